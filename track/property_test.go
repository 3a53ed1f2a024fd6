package track

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
)

// checker holds the lifecycle properties over a tracker's events: per track
// new < update* < end, ids never reused, Active and the sources' track_id
// naming exactly the open confirmed tracks.
type checker struct {
	t    testing.TB
	open map[string]bool // id → open (false: ended)
	seen map[string]int  // events by type and reason
}

func (c *checker) events(evs []Event) {
	c.t.Helper()
	for _, e := range evs {
		id := e.Track.ID
		c.seen[e.Type+" "+e.Reason]++
		open, seen := c.open[id]
		switch e.Type {
		case TypeNew:
			if seen {
				c.t.Fatalf("new for id %s seen before", id)
			}
			if e.Before != nil || e.Key == nil {
				c.t.Fatalf("new %s: before %v key %v", id, e.Before, e.Key)
			}
			c.open[id] = true
		case TypeUpdate, TypeEnd:
			if !open {
				c.t.Fatalf("%s for id %s that is not open (seen %v)", e.Type, id, seen)
			}
			if e.Before == nil || e.Before.ID != id {
				c.t.Fatalf("%s %s: before %+v", e.Type, id, e.Before)
			}
			if (e.Type == TypeEnd) != (e.Reason != "") {
				c.t.Fatalf("%s %s with reason %q", e.Type, id, e.Reason)
			}
			c.open[id] = e.Type == TypeUpdate
		default:
			c.t.Fatalf("event type %q", e.Type)
		}
		if e.Schema != EventSchemaName || e.Stream != "front" {
			c.t.Fatalf("event %+v", e)
		}
		// NaN or Inf from a malformed detection would make it unpublishable.
		if _, err := json.Marshal(e); err != nil {
			c.t.Fatalf("event %+v does not marshal: %v", e, err)
		}
	}
}

func (c *checker) state(tr *Tracker, d *gar.Detection) {
	c.t.Helper()
	act := tr.Active()
	n := 0
	for _, tk := range act {
		if !c.open[tk.ID] {
			c.t.Fatalf("active track %s has no open new", tk.ID)
		}
		for _, v := range append(tk.BBoxNorm[:], tk.SmoothedBBoxNorm[:]...) {
			if !(v >= 0 && v <= 1) {
				c.t.Fatalf("track %s box %v %v", tk.ID, tk.BBoxNorm, tk.SmoothedBBoxNorm)
			}
		}
	}
	for _, o := range c.open {
		if o {
			n++
		}
	}
	if n != len(act) {
		c.t.Fatalf("%d tracks open by the events, %d active", n, len(act))
	}
	if d != nil {
		for _, s := range d.Sources {
			if s.TrackID != "" && !c.open[s.TrackID] {
				c.t.Fatalf("source track_id %s is not an open track", s.TrackID)
			}
		}
	}
}

var fuzzLabels = []string{"dog barking", "dog", "barking dogs", "piano", "rain", "", "sound of rain", "Cat meowing!"}

// drive runs a tracker through the operations data encodes and checks the
// properties after each; at the end a clean stop must end every track.
func drive(t testing.TB, data []byte) map[string]int {
	pos := 0
	next := func() byte {
		if pos >= len(data) {
			return 0
		}
		pos++
		return data[pos-1]
	}
	unit := func() float64 {
		b := next()
		if b == 255 {
			return math.NaN()
		}
		return float64(b) / 254
	}
	cfg := DefaultConfig()
	cfg.ConfirmHits = 1 + int(next()%3)
	cfg.MaxTracks = 1 + int(next()%MaxTracksLimit)
	cfg.HFOVDeg = []float64{0, 60, 90}[next()%3]
	cfg.Heartbeat = []time.Duration{0, 9 * time.Second, 60 * time.Second}[next()%3]
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := New("front", cfg, seqIDs())
	c := &checker{t: t, open: map[string]bool{}, seen: map[string]int{}}
	seq := 0
	for pos < len(data) {
		op := next()
		seq++
		if op&0x80 != 0 {
			seq += int(op>>4) & 7 // a jump: windows never analysed
		}
		var d *gar.Detection
		var evs []Event
		at := t0.Add(time.Duration(seq) * windowLen)
		switch op % 8 {
		case 0, 1, 2, 3:
			var srcs []src
			for range 1 + int(next()%6) {
				srcs = append(srcs, src{unit(), unit(), unit() / 2, unit() / 2, fuzzLabels[next()%8]})
			}
			d = ok(seq, srcs...)
			switch next() % 5 {
			case 0:
				bearing := unit()*180 - 90
				d.Sources[0].BearingDeg = &bearing
			case 1:
				inf := math.Inf(1)
				d.Sources[0].BearingDeg = &inf
				d.Sources[0].LabelConfidence = math.NaN()
				d.Sources[0].BBoxNorm[2] = math.Inf(-1)
			}
			evs = tr.Window(d)
		case 4:
			d = det(seq, gar.StatusSilent)
			evs = tr.Window(d)
		case 5:
			d = det(seq, []gar.Status{gar.StatusMLLMUnavailable, gar.StatusInvalidModelOutput}[next()%2])
			evs = tr.Window(d)
		case 6:
			evs = tr.Tick(at.Add(time.Duration(next()) * time.Second))
		case 7:
			switch next() % 3 {
			case 0:
				evs = tr.Unknown(at)
			case 1:
				evs = tr.EndAll(ReasonReload, at)
				c.events(evs)
				c.state(tr, nil)
				if len(tr.Active()) != 0 {
					t.Fatal("tracks open after EndAll")
				}
				continue
			default:
				d = ok(seq-1-int(next()%4), src{0.5, 0.5, 0.2, 0.2, "dog"}) // stale
				evs = tr.Window(d)
			}
		}
		c.events(evs)
		c.state(tr, d)
	}
	c.events(tr.EndAll(ReasonStopped, t0.Add(time.Duration(seq+1)*windowLen)))
	for id, o := range c.open {
		if o {
			t.Fatalf("track %s has a new and no end after a clean stop", id)
		}
	}
	c.state(tr, nil)
	return c.seen
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for i := range 300 {
		data := make([]byte, 50+r.IntN(1500))
		for k := range data {
			data[k] = byte(r.Uint32())
		}
		// Fewer jumps than uniform bytes give, so tracks live long enough
		// to update.
		for k := range data {
			if r.IntN(4) != 0 {
				data[k] &^= 0x80
			}
		}
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("sequence %d: %x", i, data)
				}
			}()
			for k, n := range drive(t, data) {
				seen[k] += n
			}
		})
	}
	// The sequences must reach every kind of event, or the properties
	// hold vacuously.
	for _, k := range []string{"new ", "update ", "end silence", "end not_seen", "end unknown", "end reload", "end stopped"} {
		if seen[k] == 0 {
			t.Errorf("no %q events in the random sequences: %v", k, seen)
		}
	}
	t.Logf("events: %v", seen)
}

func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 3, 1, 1, 0, 1, 100, 100, 50, 50, 1, 0, 0, 1, 100, 100, 50, 50, 1, 4, 4, 4, 6, 200})
	f.Add([]byte{1, 15, 2, 2, 3, 4, 10, 20, 30, 40, 2, 50, 60, 70, 80, 3, 255, 255, 255, 255, 0, 7, 1, 7, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) { drive(t, data) })
}
