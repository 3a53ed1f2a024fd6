package track

import (
	"math"
	"slices"
	"time"

	"github.com/garssl/garssld/gar"
)

// Gates of the association (issue 15, Decisions).
const (
	minIoU         = 0.1
	maxBearingDiff = 15.0
)

// Tracker turns one stream's windows into tracks. It is not safe for
// concurrent use: the stream's pipeline owns it.
type Tracker struct {
	stream string
	cfg    Config
	newID  func() string

	tracks []*track // open tracks in creation order

	// last is the end of the newest window seen (or of an EndAll); windows
	// ending no later are stale. analysed is the end of the newest ok or
	// silent window.
	last, analysed time.Time

	// Scratch of one window's association, kept to spare allocations.
	obs     []observation
	cost    []float64 // len(obs) × len(tracks), NaN where the gate fails
	matchOf []int     // per observation: track index or -1
	matched []*track  // per observation: its track
	srch    search
}

type track struct {
	id        string
	confirmed bool
	kf        kalman
	kfAt      time.Time // the time of the filter's state
	firstSeen time.Time
	lastSeen  time.Time // end of the last hit's window
	hits      int
	raw       observation
	frameW    int
	frameH    int
	labels    labels
	words     []string // content words of the current label
	sent      Track    // last state sent, valid once confirmed
	sentAt    time.Time
}

// observation is a source of a window, cleaned for the tracker.
type observation struct {
	norm       [4]float64
	bbox       gar.Box
	bearing    float64
	hasBearing bool
	label      string
	words      []string
	conf       float64
}

// New returns the tracker of a stream. cfg must be valid (Config.Validate);
// newID gives track ids (NewULIDSource() when nil).
func New(stream string, cfg Config, newID func() string) *Tracker {
	if newID == nil {
		newID = NewULIDSource()
	}
	return &Tracker{stream: stream, cfg: cfg, newID: newID}
}

// Window takes the result of one window of the stream and returns the
// events it caused. Status ok gives hits to the tracks its sources match and
// misses to the others; silent is a miss for every track; any other status
// is unknown (no miss). A window that ends no later than one already taken
// is stale (windows can finish out of order) and is taken as unknown. It
// sets TrackID on the detection's sources whose track is confirmed and
// clears it on the others.
func (t *Tracker) Window(d *gar.Detection) []Event {
	if d == nil {
		return nil
	}
	for i := range d.Sources {
		d.Sources[i].TrackID = ""
	}
	at := d.Window.End
	if !at.After(t.last) {
		return nil
	}
	t.last = at
	key := &Key{RunID: d.RunID, Stream: d.Stream, Seq: d.Seq}
	switch d.Status {
	case gar.StatusOK:
		return t.analysedWindow(d, at, key)
	case gar.StatusSilent:
		t.analysed = at
		return t.misses(at, key, ReasonSilence, nil)
	default:
		return t.lost(at)
	}
}

// Unknown takes a window of the stream that has no result (dropped, lost
// to a capture gap) and ended at at. It is no miss; it returns the end
// events of tracks unknown for longer than lost_after by then, as Tick.
func (t *Tracker) Unknown(at time.Time) []Event {
	if at.After(t.last) {
		t.last = at
	}
	return t.lost(at)
}

// Tick ends, with reason unknown, the tracks of a stream that had no
// analysed window for longer than lost_after before now. The tracker has no
// clock: the owner calls it at least once a second. (end_after needs no
// tick: only an analysed window can run it out, so Window applies it.)
func (t *Tracker) Tick(now time.Time) []Event { return t.lost(now) }

// EndAll ends every open track with reason (ReasonStopped, ReasonPaused,
// ReasonReload) at at, and returns the end events of the confirmed ones.
// Windows that ended at or before at are stale afterwards, so a window still
// in flight when a stream pauses cannot reopen a track.
func (t *Tracker) EndAll(reason string, at time.Time) []Event {
	if at.After(t.last) {
		t.last = at
	}
	return t.closeAll(reason, at)
}

// Active returns the confirmed open tracks, oldest first.
func (t *Tracker) Active() []Track {
	out := []Track{}
	for _, tr := range t.tracks {
		if tr.confirmed {
			out = append(out, t.snapshot(tr))
		}
	}
	return out
}

func (t *Tracker) lost(now time.Time) []Event {
	if len(t.tracks) == 0 || now.Sub(t.analysed) <= t.cfg.LostAfter {
		return nil
	}
	return t.closeAll(ReasonUnknown, now)
}

// closeAll ends every open track, with events (and no key: no window caused
// them) for the confirmed ones.
func (t *Tracker) closeAll(reason string, at time.Time) []Event {
	var evs []Event
	for _, tr := range t.tracks {
		if tr.confirmed {
			evs = append(evs, t.endEvent(tr, reason, at, nil))
		}
	}
	clear(t.tracks)
	t.tracks = t.tracks[:0]
	return evs
}

func (t *Tracker) analysedWindow(d *gar.Detection, at time.Time, key *Key) []Event {
	t.analysed = at
	t.observe(d)
	t.associate(at)

	var evs []Event
	matched := t.matched[:0]
	for i, j := range t.matchOf {
		var tr *track
		if j >= 0 {
			tr = t.tracks[j]
			evs = t.hit(tr, &t.obs[i], d, at, key, evs)
		}
		matched = append(matched, tr)
	}
	// Misses before new tracks, so that tracks ending now free their slots.
	evs = t.misses(at, key, ReasonNotSeen, evs)
	for i, tr := range matched {
		if tr == nil {
			tr, evs = t.open(&t.obs[i], d, at, key, evs)
			matched[i] = tr
		}
		if tr != nil && tr.confirmed {
			d.Sources[i].TrackID = tr.id
		}
	}
	clear(matched)
	t.matched = matched
	return evs
}

// observe cleans the window's sources into t.obs: boxes clipped to the
// frame and ordered, non-finite numbers dropped, labels normalised.
func (t *Tracker) observe(d *gar.Detection) {
	t.obs = t.obs[:0]
	for i := range d.Sources {
		s := &d.Sources[i]
		o := observation{bbox: s.BBox, conf: clip01(s.LabelConfidence)}
		for k, v := range s.BBoxNorm {
			o.norm[k] = clip01(v)
		}
		if o.norm[2] < o.norm[0] {
			o.norm[0], o.norm[2] = o.norm[2], o.norm[0]
		}
		if o.norm[3] < o.norm[1] {
			o.norm[1], o.norm[3] = o.norm[3], o.norm[1]
		}
		switch {
		case s.BearingDeg != nil && !math.IsNaN(*s.BearingDeg) && !math.IsInf(*s.BearingDeg, 0):
			o.bearing, o.hasBearing = *s.BearingDeg, true
		case t.cfg.HFOVDeg > 0:
			o.bearing, o.hasBearing = gar.BearingDeg((o.norm[0]+o.norm[2])/2, t.cfg.HFOVDeg), true
		}
		o.label = normLabel(s.Label)
		o.words = contentWords(o.label)
		t.obs = append(t.obs, o)
	}
}

// associate fills t.matchOf with the globally best assignment of the
// window's observations to the open tracks: the most matches, then the
// least total cost (see doc.go).
func (t *Tracker) associate(at time.Time) {
	n, m := len(t.obs), len(t.tracks)
	t.cost = slices.Grow(t.cost[:0], n*m)[:n*m]
	for j, tr := range t.tracks {
		kf := tr.kf
		kf.predict(at.Sub(tr.kfAt).Seconds())
		pred := kf.box()
		predBearing := gar.BearingDeg(kf.centreX(), t.cfg.HFOVDeg)
		for i := range t.obs {
			o := &t.obs[i]
			c := math.NaN()
			if compatible(o.label, tr.labelNorm(), o.words, tr.words) {
				if v := iou(pred, o.norm); v >= minIoU {
					c = 1 - v
				} else if diff := math.Abs(o.bearing - predBearing); t.cfg.HFOVDeg > 0 && o.hasBearing && diff <= maxBearingDiff {
					// Ranked after every box overlap, by bearing.
					c = 1 + diff/maxBearingDiff
				}
			}
			t.cost[i*m+j] = c
		}
	}
	t.matchOf = slices.Grow(t.matchOf[:0], n)[:n]
	t.srch.run(t.cost, n, m, t.matchOf)
}

func (tr *track) labelNorm() string {
	l, _ := tr.labels.label()
	return l
}

// hit updates a track with its observation of the window and appends the
// new or update event it makes, if any.
func (t *Tracker) hit(tr *track, o *observation, d *gar.Detection, at time.Time, key *Key, evs []Event) []Event {
	if tr.hits == 0 {
		tr.kf = newKalman(o.norm)
	} else {
		tr.kf.predict(at.Sub(tr.kfAt).Seconds())
		tr.kf.update(o.norm)
	}
	tr.kfAt = at
	tr.hits++
	tr.lastSeen = at
	tr.raw = *o
	tr.frameW, tr.frameH = d.Frame.Width, d.Frame.Height
	tr.labels.add(o.label, o.conf)
	if l := tr.labelNorm(); l == o.label {
		tr.words = o.words
	} else {
		tr.words = contentWords(l)
	}
	if !tr.confirmed {
		if tr.hits < t.cfg.ConfirmHits {
			return evs
		}
		tr.confirmed = true
		snap := t.snapshot(tr)
		tr.sent, tr.sentAt = snap, at
		return append(evs, Event{Schema: EventSchemaName, Type: TypeNew, Stream: t.stream, Time: at, Track: snap, Key: key})
	}
	snap := t.snapshot(tr)
	if !t.meaningful(tr, &snap, at) {
		return evs
	}
	before := tr.sent
	tr.sent, tr.sentAt = snap, at
	return append(evs, Event{Schema: EventSchemaName, Type: TypeUpdate, Stream: t.stream, Time: at, Track: snap, Before: &before, Key: key})
}

// meaningful is the update rule: measured against the last state sent.
func (t *Tracker) meaningful(tr *track, now *Track, at time.Time) bool {
	was := &tr.sent
	if now.Label != was.Label {
		return true
	}
	if t.cfg.Heartbeat > 0 && at.Sub(tr.sentAt) >= t.cfg.Heartbeat {
		return true
	}
	if t.cfg.HFOVDeg > 0 && now.SmoothedBearingDeg != nil && was.SmoothedBearingDeg != nil {
		return math.Abs(*now.SmoothedBearingDeg-*was.SmoothedBearingDeg) >= t.cfg.UpdateBearingDeg
	}
	w, h := float64(tr.frameW), float64(tr.frameH)
	if w <= 0 || h <= 0 {
		w, h = 1, 1
	}
	ncx, ncy, _, _ := centreSize(now.SmoothedBBoxNorm)
	wcx, wcy, _, _ := centreSize(was.SmoothedBBoxNorm)
	return math.Hypot((ncx-wcx)*w, (ncy-wcy)*h)/math.Hypot(w, h) >= t.cfg.UpdateCentreFrac
}

// misses ends the tracks without a hit in the window ending at at whose
// end_after ran out.
func (t *Tracker) misses(at time.Time, key *Key, reason string, evs []Event) []Event {
	t.tracks = slices.DeleteFunc(t.tracks, func(tr *track) bool {
		if tr.lastSeen.Equal(at) || at.Sub(tr.lastSeen) < t.cfg.EndAfter {
			return false
		}
		if tr.confirmed {
			evs = append(evs, t.endEvent(tr, reason, at, key))
		}
		return true
	})
	return evs
}

// open starts a tentative track for an observation no track matched, and
// returns it (nil when every slot holds a track this window confirmed or
// hit) and the new event when one hit confirms it.
func (t *Tracker) open(o *observation, d *gar.Detection, at time.Time, key *Key, evs []Event) (*track, []Event) {
	if len(t.tracks) >= t.cfg.MaxTracks {
		// The oldest tentative track not hit in this window gives way.
		i := slices.IndexFunc(t.tracks, func(tr *track) bool { return !tr.confirmed && !tr.lastSeen.Equal(at) })
		if i < 0 {
			return nil, evs
		}
		t.tracks = slices.Delete(t.tracks, i, i+1)
	}
	first := d.Window.Start
	if first.IsZero() || first.After(at) {
		first = at
	}
	tr := &track{id: t.newID(), firstSeen: first}
	t.tracks = append(t.tracks, tr)
	evs = t.hit(tr, o, d, at, key, evs)
	return tr, evs
}

func (t *Tracker) endEvent(tr *track, reason string, at time.Time, key *Key) Event {
	before := tr.sent
	return Event{Schema: EventSchemaName, Type: TypeEnd, Stream: t.stream, Time: at, Track: t.snapshot(tr), Before: &before, Key: key, Reason: reason}
}

// snapshot is the published state of a track.
func (t *Tracker) snapshot(tr *track) Track {
	label, conf := tr.labels.label()
	s := Track{
		ID: tr.id, Label: label, Confidence: conf,
		FirstSeen: tr.firstSeen, LastSeen: tr.lastSeen, Hits: tr.hits,
		BBoxNorm: tr.raw.norm, SmoothedBBoxNorm: tr.kf.box(),
		BBox: tr.raw.bbox,
	}
	s.SmoothedBBox = toPixels(s.SmoothedBBoxNorm, tr.frameW, tr.frameH)
	if tr.raw.hasBearing {
		b := tr.raw.bearing
		s.BearingDeg = &b
	}
	if t.cfg.HFOVDeg > 0 {
		b := gar.BearingDeg(tr.kf.centreX(), t.cfg.HFOVDeg)
		s.SmoothedBearingDeg = &b
	}
	return s
}

// toPixels maps a normalised box to the inclusive pixel box of a w×h frame
// through pixel edges, as gar.ToFrame does.
func toPixels(n [4]float64, w, h int) gar.Box {
	if w <= 0 || h <= 0 {
		return gar.Box{}
	}
	edge := func(v float64, size int, far bool) int {
		p := int(math.Round(v * float64(size)))
		if far {
			p--
		}
		return min(max(p, 0), size-1)
	}
	b := gar.Box{edge(n[0], w, false), edge(n[1], h, false), edge(n[2], w, true), edge(n[3], h, true)}
	b[2], b[3] = max(b[2], b[0]), max(b[3], b[1])
	return b
}
