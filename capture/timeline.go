package capture

import (
	"math"
	"math/bits"
	"time"
)

// Kinds of discontinuity, as counted in Stats.Discontinuities (and exported
// as metric labels).
const (
	// JumpBackward: a stream's timestamps went back (an encoder restarted,
	// a file was concatenated to an earlier one, or FFmpeg mistook a
	// backward jump for a 33-bit wrap).
	JumpBackward = "backward"
	// JumpForward: the timestamps leapt ahead further than the input can
	// have advanced: more than one window for a file, more than the
	// wall-clock time that passed plus one window for a live input.
	JumpForward = "forward"
	// JumpWrap: an MPEG-TS (or RTP) timestamp wrapped around; the timeline
	// carries on without a break.
	JumpWrap = "wrap"
	// JumpReopen: a live input was reopened after an error, EOF or stall, or
	// a looped file started again.
	JumpReopen = "reopen"
)

// noTimestamp is FFmpeg's AV_NOPTS_VALUE.
const noTimestamp = math.MinInt64

// backwardTolerance is how far a stream may step back without counting as a
// backward jump: decoders reorder frames by up to a few hundred
// milliseconds when only PTS is known, and one stream may trail another
// across a re-anchor. Smaller steps are overlaps the windowing drops.
const backwardTolerance = 500 * time.Millisecond

// rational is a time base, num/den seconds per tick.
type rational struct{ num, den int64 }

// toNanos converts ticks of tb to nanoseconds, rounding to the nearest.
func (tb rational) toNanos(ticks int64) time.Duration {
	return time.Duration(rescale(ticks, tb.num*int64(time.Second), tb.den))
}

// fromNanos converts nanoseconds to ticks of tb, rounding to the nearest.
func (tb rational) fromNanos(d time.Duration) int64 {
	return rescale(int64(d), tb.den, tb.num*int64(time.Second))
}

// rescale returns a·b/c rounded to the nearest integer (halves away from
// zero), for b, c > 0, saturating instead of overflowing.
func rescale(a, b, c int64) int64 {
	neg := a < 0
	ua := uint64(a)
	if neg {
		ua = -ua
	}
	hi, lo := bits.Mul64(ua, uint64(b))
	lo, carry := bits.Add64(lo, uint64(c)/2, 0)
	hi += carry
	if hi >= uint64(c) {
		if neg {
			return math.MinInt64 + 1
		}
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		q = math.MaxInt64
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// stamp is what the timeline needs of one packet.
type stamp struct {
	stream   int
	dts, pts int64 // ticks of tb; noTimestamp when unknown
	dur      int64 // ticks; 0 when unknown
	tb       rational
	wrapBits int // the stream's pts_wrap_bits: timestamps wrap at 2^wrapBits (0 or ≥ 63: never)
	// arrival is when the packet arrived, as a position on the stream
	// timeline (the monotonic clock since the anchor).
	arrival time.Duration
}

// placement is where the timeline put a packet.
type placement struct {
	dts, pts int64         // the packet's timestamps on the stream timeline, in its time base
	at       time.Duration // the position of the packet (its DTS, else PTS)
	jump     string        // the kind of discontinuity it revealed, "" when none
	wrapped  bool          // its timestamps wrapped around (no break in the timeline)
	// gapFrom and gapTo bound media the input lacks, when the packet lands
	// more than one window past the furthest position the input reached:
	// the gap is too long to fill with silence and is skipped.
	gapFrom, gapTo time.Duration
}

// mapping takes an input's media time (unwrapped, ns) to stream positions:
// the position of media time m is pos + (m − media)·rate.
type mapping struct {
	media, pos time.Duration
	rate       float64
}

func (m mapping) at(media time.Duration) time.Duration {
	d := media - m.media
	return m.pos + d + time.Duration(float64(d)*(m.rate-1))
}

// track is one stream of an input.
type track struct {
	off   time.Duration // added to the input's mapping: a stream that did not jump along keeps its own
	last  time.Duration // position of its last packet
	epoch int           // the input's re-anchor count when the stream was last placed
	seen  bool
}

// timeline places one input's timestamps on its Source's stream timeline,
// which never goes backwards whatever the input's timestamps do; the rule is
// written in the package doc. It is arithmetic only, used by the goroutine
// that reads the input, and it outlives the input's reopens.
type timeline struct {
	window time.Duration // the largest forward step that is not a jump, and the longest gap filled with silence
	live   bool

	tracks    map[int]*track
	base      mapping
	mapped    bool
	epoch     int           // counts re-anchors
	lastShift time.Duration // how far the last re-anchor moved the mapping
	ref       time.Duration // media time of the latest packet; timestamps are unwrapped against it
	hasRef    bool
	wrapFloor int64 // wrap periods the input's clock has passed
	end       time.Duration
	hasEnd    bool
	arrival   time.Duration // of the latest packet
	pending   string        // the discontinuity the next packet starts a session after
	start     time.Duration // media time the session says it starts at (AVFormatContext.start_time)
	hasStart  bool
	drift     driftEstimator
}

func newTimeline(window time.Duration, live bool) *timeline {
	return &timeline{window: window, live: live, tracks: map[int]*track{}, base: mapping{rate: 1}}
}

// reopen says the input was opened again (kind JumpReopen) or a looped file
// started over: the next packet starts a new session of its media, placed
// where the input left off (a file) or at its arrival (live).
func (t *timeline) reopen() {
	if t.mapped {
		t.pending = JumpReopen
	}
	t.hasStart = false
}

// startsAt gives the session's start time (the smallest first timestamp of
// its streams), so that a stream starting later than another keeps that lag
// on the timeline.
func (t *timeline) startsAt(ticks int64, tb rational) {
	t.hasStart = ticks != noTimestamp && tb.num > 0 && tb.den > 0
	if t.hasStart {
		t.start = tb.toNanos(ticks)
	}
}

// mediaAt is the media time that position pos stands for.
func (t *timeline) mediaAt(pos time.Duration) time.Duration {
	d := pos - t.base.pos
	return t.base.media + time.Duration(float64(d)/t.base.rate)
}

// reached is the furthest position the input's media reached.
func (t *timeline) reached() time.Duration { return t.end }

// driftPPM is how much faster the input's clock runs than the monotonic
// clock, in parts per million; 0 until measured, and for files.
func (t *timeline) driftPPM() float64 { return (1/t.base.rate - 1) * 1e6 }

// place maps one packet. ok is false for a packet without timestamps,
// which is passed on unchanged.
func (t *timeline) place(s stamp) (p placement, ok bool) {
	key := s.dts
	if key == noTimestamp {
		key = s.pts
	}
	if key == noTimestamp || s.tb.num <= 0 || s.tb.den <= 0 {
		return p, false
	}
	media, floor := t.unwrap(key, s)
	tr := t.tracks[s.stream]
	if tr == nil {
		tr = &track{epoch: t.epoch}
		t.tracks[s.stream] = tr
	}
	restarted := !t.mapped || t.pending != ""
	switch {
	case restarted:
		p.jump, t.pending = t.pending, ""
		t.newSession(media, s.arrival)
	default:
		if tr.epoch != t.epoch && t.jumped(tr, t.pos(tr, media), s.arrival) != "" &&
			t.jumped(tr, t.pos(tr, media)-t.lastShift, s.arrival) == "" {
			// The input re-anchored for another stream, but this one did
			// not jump along: it keeps its old mapping.
			tr.off -= t.lastShift
		}
		if p.jump = t.jumped(tr, t.pos(tr, media), s.arrival); p.jump != "" {
			shift := t.target(s.arrival) - t.pos(tr, media)
			t.base.pos += shift
			t.lastShift = shift
			t.epoch++
			t.drift.restart(media)
			restarted = true
		}
	}
	tr.epoch = t.epoch
	// A wrap is the clock passing a multiple of its period without a jump;
	// streams trailing each other across it count it once.
	if restarted {
		t.wrapFloor = floor
	} else if floor > t.wrapFloor {
		t.wrapFloor, p.wrapped = floor, true
	}
	p.at = t.pos(tr, media)
	if t.hasEnd && p.at-t.end > t.window {
		p.gapFrom, p.gapTo = t.end, p.at
	}
	p.dts = t.rewrite(s.dts, key, p.at, s)
	p.pts = t.rewrite(s.pts, key, p.at, s)
	end := p.at
	if p.pts != noTimestamp {
		end = s.tb.toNanos(p.pts)
	}
	if end += s.tb.toNanos(s.dur); !t.hasEnd || end > t.end {
		t.end, t.hasEnd = end, true
	}
	tr.last, tr.seen = p.at, true
	t.arrival = s.arrival
	if t.live {
		t.measureDrift(media, s.arrival)
	}
	return p, true
}

func (t *timeline) pos(tr *track, media time.Duration) time.Duration {
	return t.base.at(media) + tr.off
}

// newSession maps the first packet of a session: the session's start time
// (or the packet, if it is earlier) lands on the target, and every stream
// shares the mapping again.
func (t *timeline) newSession(media, arrival time.Duration) {
	origin := media
	if t.hasStart && max(media-t.start, t.start-media) <= t.window {
		origin = t.start
	}
	t.base = mapping{media: origin, pos: t.target(arrival), rate: t.base.rate}
	for _, tr := range t.tracks {
		tr.off = 0
	}
	t.lastShift = 0
	t.mapped = true
	t.epoch++
	t.drift.restart(media)
}

// unwrap turns a raw timestamp into the input's media time, continuous
// across wraps: of the values the raw one can stand for, the nearest to the
// latest media time. (FFmpeg's own correction works only relative to the
// first timestamp it saw, and may have added a period already.) floor counts
// the wrap periods the unwrapped value has passed.
func (t *timeline) unwrap(raw int64, s stamp) (media time.Duration, floor int64) {
	ticks := raw
	if period, ok := wrapPeriod(s.wrapBits); ok {
		if t.hasRef {
			expected := s.tb.fromNanos(t.ref)
			ticks = expected + centredMod(raw-expected, period)
		}
		floor = floorDiv(ticks, period)
	}
	media = s.tb.toNanos(ticks)
	t.ref, t.hasRef = media, true
	return media, floor
}

func wrapPeriod(bits int) (int64, bool) {
	if bits <= 0 || bits >= 63 {
		return 0, false
	}
	return int64(1) << bits, true
}

// rewrite maps a raw timestamp of the packet, given where its key
// timestamp landed.
func (t *timeline) rewrite(raw, key int64, keyAt time.Duration, s stamp) int64 {
	if raw == noTimestamp {
		return noTimestamp
	}
	d := raw - key
	if period, ok := wrapPeriod(s.wrapBits); ok {
		d = centredMod(d, period)
	}
	return s.tb.fromNanos(keyAt) + d
}

// jumped reports the kind of discontinuity a packet of tr at pos reveals.
func (t *timeline) jumped(tr *track, pos, arrival time.Duration) string {
	if tr.seen && pos < tr.last-backwardTolerance {
		return JumpBackward
	}
	allowance := t.window
	if t.live {
		allowance += max(0, arrival-t.arrival)
	}
	if t.hasEnd && pos > t.end+allowance {
		return JumpForward
	}
	return ""
}

// target is where media resumes after a discontinuity: a file continues
// where it left off, a live input at the arrival of its media, and neither
// ever before the input's end.
func (t *timeline) target(arrival time.Duration) time.Duration {
	switch {
	case t.live && t.hasEnd:
		return max(arrival, t.end)
	case t.live:
		return arrival
	default:
		return t.end // 0 before any media
	}
}

// measureDrift feeds the drift estimator and follows its estimate: the
// mapping turns at the current media time, so that no position moves.
func (t *timeline) measureDrift(media, arrival time.Duration) {
	if !t.drift.add(media, arrival) {
		return
	}
	if rate := 1 + t.drift.slope; rate != t.base.rate {
		t.base = mapping{media: media, pos: t.base.at(media), rate: rate}
	}
}

// centredMod returns v modulo period, in [−period/2, period/2).
func centredMod(v, period int64) int64 {
	m := v % period
	if m < 0 {
		m += period
	}
	if m >= period/2 {
		m -= period
	}
	return m
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Drift estimation. A live input's clock (the camera's or microphone's
// crystal) runs a little fast or slow against this machine's: 50 ppm is
// 4 s a day, enough to pull a separate microphone away from its camera and
// windows away from the wall clock. The estimator fits a line through the
// earliest arrival of each second of media (network and buffering delays
// only ever add to an arrival, so the earliest one tracks the sender's
// clock best) over the last ten minutes.
const (
	driftBin     = time.Second
	driftBins    = 600
	driftSkip    = 3 * time.Second // the burst FFmpeg buffered while probing arrives all at once
	driftMinSpan = 10 * time.Second
	// driftMax bounds what counts as a clock's drift; a steeper slope is a
	// bursty source, not a clock.
	driftMax = 0.02
)

type driftPoint struct{ media, lag time.Duration } // a bin's start and its least arrival − media

// driftEstimator measures the slope of arrival − media against media.
type driftEstimator struct {
	start  time.Duration // media time of the session's start
	points []driftPoint  // completed bins, oldest first
	cur    driftPoint
	curBin time.Duration
	hasCur bool
	// slope is the latest significant estimate: the input's clock runs at
	// (1 + slope) of the monotonic clock's rate.
	slope float64
}

// restart begins a new session: media times before and after a jump do not
// lie on one line. The estimate so far stays in force.
func (d *driftEstimator) restart(media time.Duration) {
	d.start, d.points, d.hasCur = media, d.points[:0], false
}

// add records one packet and reports whether the estimate changed.
func (d *driftEstimator) add(media, arrival time.Duration) bool {
	if media < d.start+driftSkip {
		return false
	}
	bin := (media - d.start) / driftBin
	lag := arrival - media
	switch {
	case d.hasCur && bin == d.curBin:
		d.cur.lag = min(d.cur.lag, lag)
		return false
	case d.hasCur && bin < d.curBin:
		return false // a trailing stream's packet of a bin already closed
	}
	completed := d.hasCur
	if completed {
		if len(d.points) == driftBins {
			copy(d.points, d.points[1:])
			d.points = d.points[:driftBins-1]
		}
		d.points = append(d.points, d.cur)
	}
	d.cur, d.curBin, d.hasCur = driftPoint{media: d.start + bin*driftBin, lag: lag}, bin, true
	return completed && d.estimate()
}

// estimate fits lag = a + slope·media by least squares and adopts the slope
// when the data span long enough and it stands clear of the noise.
func (d *driftEstimator) estimate() bool {
	n := len(d.points)
	if n < 3 || d.points[n-1].media-d.points[0].media < driftMinSpan {
		return false
	}
	x0, y0 := d.points[0].media, d.points[0].lag
	var sx, sy, sxx, sxy float64
	for _, p := range d.points {
		x, y := (p.media - x0).Seconds(), (p.lag - y0).Seconds()
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	fn := float64(n)
	vx := sxx - sx*sx/fn
	if vx <= 0 {
		return false
	}
	slope := (sxy - sx*sy/fn) / vx
	var rss float64
	for _, p := range d.points {
		x, y := (p.media - x0).Seconds(), (p.lag - y0).Seconds()
		r := y - (sy/fn + slope*(x-sx/fn))
		rss += r * r
	}
	stderr := math.Sqrt(rss / (fn - 2) / vx)
	if math.Abs(slope) > driftMax || stderr > math.Abs(slope)/4 || slope == d.slope {
		return false
	}
	d.slope = slope
	return true
}
