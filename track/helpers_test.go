package track

import (
	"fmt"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const windowLen = 3 * time.Second

// src is a scripted source: box centre and size in normalised coordinates.
type src struct {
	cx, cy, w, h float64
	label        string
}

func (s src) norm() [4]float64 {
	return [4]float64{s.cx - s.w/2, s.cy - s.h/2, s.cx + s.w/2, s.cy + s.h/2}
}

// det is window seq of a 3 s windowing: it ends at t0 + 3 s·(seq+1).
func det(seq int, status gar.Status, srcs ...src) *gar.Detection {
	start := t0.Add(time.Duration(seq) * windowLen)
	d := &gar.Detection{
		RunID: "run1", Stream: "front", Seq: uint64(seq), Status: status,
		Window: gar.WindowInfo{Start: start, End: start.Add(windowLen)},
		Frame:  gar.FrameInfo{Width: 1280, Height: 720, ModelWidth: 224, ModelHeight: 224},
	}
	for _, s := range srcs {
		n := s.norm()
		d.Sources = append(d.Sources, gar.SourceResult{
			BBoxNorm: n, BBox: toPixels(n, 1280, 720),
			Label: s.label, LabelConfidence: 0.8,
		})
	}
	return d
}

func ok(seq int, srcs ...src) *gar.Detection { return det(seq, gar.StatusOK, srcs...) }

// seqIDs returns an id generator giving "t1", "t2", … so tests can name
// tracks.
func seqIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("t%d", n) }
}

func cfgWith(f func(*Config)) Config {
	c := DefaultConfig()
	if f != nil {
		f(&c)
	}
	return c
}

// run feeds windows and returns every event and the track id of each
// source of each window (in order).
func run(t *testing.T, tr *Tracker, dets ...*gar.Detection) (evs []Event, ids [][]string) {
	t.Helper()
	for _, d := range dets {
		evs = append(evs, tr.Window(d)...)
		var w []string
		for _, s := range d.Sources {
			w = append(w, s.TrackID)
		}
		ids = append(ids, w)
	}
	return evs, ids
}

func types(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Type + ":" + e.Track.ID
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		out = append(out, s)
	}
	return out
}
