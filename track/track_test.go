package track

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
)

func TestScripted(t *testing.T) {
	dog := func(cx float64) src { return src{cx: cx, cy: 0.5, w: 0.2, h: 0.3, label: "dog barking"} }
	// An accelerating source: from the third window on, its box overlaps
	// its previous one by less than the IoU gate, so only the prediction
	// keeps it.
	path := []float64{0.1, 0.2, 0.32, 0.46, 0.62, 0.8}
	moving := func() []*gar.Detection {
		var ds []*gar.Detection
		for i, cx := range path {
			ds = append(ds, ok(i, dog(cx)))
		}
		return ds
	}
	tests := []struct {
		name     string
		cfg      Config
		dets     []*gar.Detection
		wantEvs  []string
		wantIDs  [][]string
		wantLast string // label of the track in the last event
	}{
		{
			name:    "moving source keeps one id",
			cfg:     cfgWith(func(c *Config) { c.UpdateCentreFrac = 1 }),
			dets:    moving(),
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{"t1"}, {"t1"}, {"t1"}, {"t1"}, {"t1"}, {"t1"}},
		},
		{
			name: "bearing gate keeps a source whose box jumps",
			cfg:  cfgWith(func(c *Config) { c.HFOVDeg = 90; c.UpdateBearingDeg = 90 }),
			dets: []*gar.Detection{
				ok(0, src{0.5, 0.2, 0.1, 0.1, "dog barking"}),
				ok(1, src{0.52, 0.7, 0.1, 0.1, "dog barking"}), // same bearing, no overlap
			},
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{"t1"}, {"t1"}},
		},
		{
			name: "without a camera model a jump is a new source",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, src{0.5, 0.2, 0.1, 0.1, "dog barking"}),
				ok(1, src{0.52, 0.7, 0.1, 0.1, "dog barking"}),
			},
			wantEvs: []string{"new:t1", "new:t2"},
			wantIDs: [][]string{{"t1"}, {"t2"}},
		},
		{
			// The middle source overlaps both tracks and the right one
			// better; taking that best pair first (greedy) would leave the
			// right source without a track and the left one missed.
			name: "assignment is globally optimal",
			cfg:  cfgWith(func(c *Config) { c.UpdateCentreFrac = 1 }),
			dets: []*gar.Detection{
				ok(0, src{0.3, 0.5, 0.3, 0.3, "dog barking"}, src{0.65, 0.5, 0.3, 0.3, "dog barking"}),
				ok(1, src{0.52, 0.5, 0.3, 0.3, "dog barking"}, src{0.72, 0.5, 0.3, 0.3, "dog barking"}),
			},
			wantEvs: []string{"new:t1", "new:t2"},
			wantIDs: [][]string{{"t1", "t2"}, {"t1", "t2"}},
		},
		{
			name: "silent window within end_after keeps the id",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, dog(0.5)), ok(1, dog(0.5)), det(2, gar.StatusSilent), ok(3, dog(0.5)),
			},
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{"t1"}, {"t1"}, nil, {"t1"}},
		},
		{
			name: "silence for end_after ends the track",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, dog(0.5)), det(1, gar.StatusSilent), det(2, gar.StatusSilent), ok(3, dog(0.5)),
			},
			wantEvs: []string{"new:t1", "end:t1:silence", "new:t2"},
			wantIDs: [][]string{{"t1"}, nil, nil, {"t2"}},
		},
		{
			name: "sound elsewhere for end_after ends it as not_seen",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, dog(0.2)), ok(1, dog(0.8)), ok(2, dog(0.8)),
			},
			wantEvs: []string{"new:t1", "new:t2", "end:t1:not_seen"},
			wantIDs: [][]string{{"t1"}, {"t2"}, {"t2"}},
		},
		{
			name: "model outage windows are no misses",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, dog(0.5)), det(1, gar.StatusMLLMUnavailable), det(2, gar.StatusInvalidModelOutput),
				det(3, gar.StatusMLLMUnavailable), ok(4, dog(0.5)),
			},
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{"t1"}, nil, nil, nil, {"t1"}},
		},
		{
			name: "label flicker stays one track",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, src{0.5, 0.5, 0.2, 0.3, "dog barking"}), ok(1, src{0.5, 0.5, 0.2, 0.3, "Dog"}),
				ok(2, src{0.5, 0.5, 0.2, 0.3, "dog barking"}), ok(3, src{0.5, 0.5, 0.2, 0.3, "barking dogs"}),
			},
			wantEvs:  []string{"new:t1"},
			wantIDs:  [][]string{{"t1"}, {"t1"}, {"t1"}, {"t1"}},
			wantLast: "dog barking",
		},
		{
			name: "incompatible label at the same place is another track",
			cfg:  DefaultConfig(),
			dets: []*gar.Detection{
				ok(0, src{0.5, 0.5, 0.2, 0.3, "sound of a dog"}), ok(1, src{0.5, 0.5, 0.2, 0.3, "sound of rain"}),
			},
			wantEvs: []string{"new:t1", "new:t2"},
			wantIDs: [][]string{{"t1"}, {"t2"}},
		},
		{
			name:    "one window with confirm_hits 2 makes no event",
			cfg:     cfgWith(func(c *Config) { c.ConfirmHits = 2 }),
			dets:    []*gar.Detection{ok(0, dog(0.5)), ok(1), det(2, gar.StatusSilent), det(3, gar.StatusSilent)},
			wantEvs: nil,
			wantIDs: [][]string{{""}, nil, nil, nil},
		},
		{
			name:    "track_id only once confirmed",
			cfg:     cfgWith(func(c *Config) { c.ConfirmHits = 2 }),
			dets:    []*gar.Detection{ok(0, dog(0.5)), ok(1, dog(0.5)), ok(2, dog(0.5))},
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{""}, {"t1"}, {"t1"}},
		},
		{
			name: "max tracks: the oldest tentative gives way",
			cfg:  cfgWith(func(c *Config) { c.ConfirmHits = 2; c.MaxTracks = 2 }),
			dets: []*gar.Detection{
				ok(0, dog(0.15)), ok(1, dog(0.15), dog(0.5)), ok(2, dog(0.85)), ok(3, dog(0.85), dog(0.5), dog(0.15)),
			},
			// t1 confirmed at window 1; t2 (0.5) tentative gives way to t3
			// (0.85), confirmed at window 3; 0.5 opens nothing (no slot).
			wantEvs: []string{"new:t1", "new:t3"},
			wantIDs: [][]string{{""}, {"t1", ""}, {""}, {"t3", "", "t1"}},
		},
		{
			name:    "stale window is unknown",
			cfg:     DefaultConfig(),
			dets:    []*gar.Detection{ok(5, dog(0.5)), ok(3, dog(0.9)), ok(6, dog(0.5))},
			wantEvs: []string{"new:t1"},
			wantIDs: [][]string{{"t1"}, {""}, {"t1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			tr := New("front", tc.cfg, seqIDs())
			evs, ids := run(t, tr, tc.dets...)
			if got := types(evs); !slices.Equal(got, tc.wantEvs) {
				t.Errorf("events = %v, want %v", got, tc.wantEvs)
			}
			if !slices.EqualFunc(ids, tc.wantIDs, slices.Equal) {
				t.Errorf("track ids = %v, want %v", ids, tc.wantIDs)
			}
			if tc.wantLast != "" {
				if act := tr.Active(); len(act) != 1 || act[0].Label != tc.wantLast {
					t.Errorf("active = %+v, want one track labelled %q", act, tc.wantLast)
				}
			}
		})
	}
}

// TestCrossing: two sources with the same label cross; at the crossing
// their boxes coincide, so only the motion prediction can tell them apart
// afterwards.
func TestCrossing(t *testing.T) {
	tr := New("front", cfgWith(func(c *Config) { c.UpdateCentreFrac = 1 }), seqIDs())
	var dets []*gar.Detection
	for i := range 7 {
		a := 0.2 + 0.1*float64(i) // left to right
		b := 0.8 - 0.1*float64(i) // right to left
		dets = append(dets, ok(i, src{a, 0.5, 0.2, 0.3, "dog barking"}, src{b, 0.5, 0.2, 0.3, "dog barking"}))
	}
	evs, ids := run(t, tr, dets...)
	if got := types(evs); !slices.Equal(got, []string{"new:t1", "new:t2"}) {
		t.Errorf("events = %v", got)
	}
	for i, w := range ids {
		if !slices.Equal(w, []string{"t1", "t2"}) {
			t.Errorf("window %d: ids %v, want [t1 t2] (left-to-right source first)", i, w)
		}
	}
}

// TestOutage: a 40 s model outage in the middle of a track keeps it
// (unknown, no miss) until lost_after has passed since the last analysed
// window, then ends it with reason unknown and no key.
func TestOutage(t *testing.T) {
	cfg := DefaultConfig()
	tr := New("front", cfg, seqIDs())
	dog := src{0.5, 0.5, 0.2, 0.3, "dog barking"}
	evs, _ := run(t, tr, ok(0, dog), ok(1, dog), ok(2, dog))
	lastAnalysed := t0.Add(3 * windowLen)
	var ended []Event
	var endAt time.Time
	// 40 s of windows the model could not answer, with dropped windows in
	// between and a tick every second.
	for s := 1; s <= 40; s++ {
		now := lastAnalysed.Add(time.Duration(s) * time.Second)
		var got []Event
		switch {
		case s%6 == 0:
			got = tr.Window(det(2+s/3, gar.StatusMLLMUnavailable))
		case s%6 == 3:
			got = tr.Unknown(now)
		}
		got = append(got, tr.Tick(now)...)
		if len(got) > 0 && endAt.IsZero() {
			endAt = now
		}
		ended = append(ended, got...)
	}
	if len(evs) != 1 || evs[0].Type != TypeNew {
		t.Fatalf("before the outage: %v", types(evs))
	}
	if got := types(ended); !slices.Equal(got, []string{"end:t1:unknown"}) {
		t.Fatalf("during the outage: %v", got)
	}
	if e := ended[0]; e.Key != nil || e.Before == nil || e.Before.ID != "t1" {
		t.Errorf("end = %+v, want no key and before = the last state sent", e)
	}
	if d := endAt.Sub(lastAnalysed); d <= cfg.LostAfter || d > cfg.LostAfter+time.Second {
		t.Errorf("ended %s after the last analysed window, want just over lost_after (%s)", d, cfg.LostAfter)
	}
	if act := tr.Active(); len(act) != 0 {
		t.Errorf("active after the end: %v", act)
	}
	evs, ids := run(t, tr, ok(20, dog))
	if got := types(evs); !slices.Equal(got, []string{"new:t2"}) || ids[0][0] != "t2" {
		t.Errorf("sound after the outage: %v %v, want a new track", got, ids)
	}
}

func TestUpdateRule(t *testing.T) {
	at := func(cx float64) src { return src{cx, 0.5, 0.2, 0.3, "dog barking"} }
	type want int
	const (
		no want = iota
		yes
		either // either; the case bounds the count of updates
	)
	type step struct {
		d          *gar.Detection
		wantUpdate want
	}
	tests := []struct {
		name    string
		cfg     Config
		steps   []step
		updates [2]int // min, max; zero: as the steps say
	}{
		{
			name: "jitter below the threshold is silent",
			cfg:  cfgWith(func(c *Config) { c.Heartbeat = 0 }),
			steps: []step{
				{ok(0, at(0.5)), no}, {ok(1, at(0.52)), no}, {ok(2, at(0.49)), no},
				{ok(3, at(0.51)), no}, {ok(4, at(0.5)), no},
			},
		},
		{
			// Steps of 0.015 of the width (1.3 % of the diagonal) add up:
			// moves are measured from the last state sent, not from the
			// previous hit.
			name: "slow drift updates once it adds up",
			cfg:  cfgWith(func(c *Config) { c.Heartbeat = 0 }),
			steps: []step{
				{ok(0, at(0.3)), no}, {ok(1, at(0.315)), no}, {ok(2, at(0.33)), no},
				{ok(3, at(0.345)), either}, {ok(4, at(0.36)), either}, {ok(5, at(0.375)), either},
				{ok(6, at(0.39)), either}, {ok(7, at(0.405)), either}, {ok(8, at(0.42)), either},
			},
			updates: [2]int{1, 3},
		},
		{
			name: "label change updates",
			cfg:  cfgWith(func(c *Config) { c.Heartbeat = 0 }),
			steps: []step{
				{ok(0, src{0.5, 0.5, 0.2, 0.3, "dog"}), no},
				{ok(1, src{0.5, 0.5, 0.2, 0.3, "dog barking"}), no}, // tie keeps "dog"
				{ok(2, src{0.5, 0.5, 0.2, 0.3, "dog barking"}), yes},
				{ok(3, src{0.5, 0.5, 0.2, 0.3, "dog barking"}), no},
			},
		},
		{
			name: "heartbeat",
			cfg:  cfgWith(func(c *Config) { c.Heartbeat = 9 * time.Second }),
			steps: []step{
				{ok(0, at(0.5)), no}, {ok(1, at(0.5)), no}, {ok(2, at(0.5)), no},
				{ok(3, at(0.5)), yes}, {ok(4, at(0.5)), no},
			},
		},
		{
			name: "bearing with a camera model",
			cfg:  cfgWith(func(c *Config) { c.Heartbeat = 0; c.HFOVDeg = 90 }),
			steps: []step{
				// 0.02 of the width is ~2.3° at the centre of a 90° camera.
				{ok(0, at(0.5)), no}, {ok(1, at(0.51)), no}, {ok(2, at(0.52)), no},
				{ok(3, at(0.5)), no}, {ok(4, at(0.6)), yes},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New("front", tc.cfg, seqIDs())
			var sent *Track
			count := 0
			for i, s := range tc.steps {
				evs := tr.Window(s.d)
				var upd []Event
				for _, e := range evs {
					switch e.Type {
					case TypeNew:
						sent = &e.Track
					case TypeUpdate:
						upd = append(upd, e)
					default:
						t.Fatalf("window %d: %v", i, types(evs))
					}
				}
				count += len(upd)
				if s.wantUpdate != either && (len(upd) == 1) != (s.wantUpdate == yes) || len(upd) > 1 {
					t.Errorf("window %d: updates %v, want update %v (smoothed %v, last sent %v)",
						i, types(upd), s.wantUpdate, tr.Active()[0].SmoothedBBoxNorm, sent.SmoothedBBoxNorm)
				}
				for _, e := range upd {
					if e.Before == nil || e.Before.Hits != sent.Hits || e.Key == nil || e.Key.Seq != s.d.Seq {
						t.Errorf("window %d: update before = %+v key = %+v, want the last sent state (hits %d)", i, e.Before, e.Key, sent.Hits)
					}
					sent = &e.Track
				}
			}
			if tc.updates != [2]int{} && (count < tc.updates[0] || count > tc.updates[1]) {
				t.Errorf("%d updates, want %d…%d", count, tc.updates[0], tc.updates[1])
			}
		})
	}
}

func TestEndAll(t *testing.T) {
	tr := New("front", cfgWith(func(c *Config) { c.ConfirmHits = 2 }), seqIDs())
	a, b := src{0.2, 0.5, 0.2, 0.3, "dog"}, src{0.8, 0.5, 0.2, 0.3, "piano"}
	run(t, tr, ok(0, a, b), ok(1, a)) // a confirmed, b tentative
	stop := t0.Add(10 * windowLen)
	evs := tr.EndAll(ReasonPaused, stop)
	if got := types(evs); !slices.Equal(got, []string{"end:t1:paused"}) || evs[0].Key != nil || !evs[0].Time.Equal(stop) {
		t.Fatalf("EndAll = %v %+v", got, evs)
	}
	if act := tr.Active(); len(act) != 0 {
		t.Errorf("active after EndAll: %v", act)
	}
	// A window in flight when the stream paused opens nothing.
	if evs, ids := run(t, tr, ok(5, a), ok(6, a)); len(evs) != 0 || ids[1][0] != "" {
		t.Errorf("window from before the pause: %v %v", types(evs), ids)
	}
	if evs, _ := run(t, tr, ok(11, a), ok(12, a)); !slices.Equal(types(evs), []string{"new:t3"}) {
		t.Errorf("after resume: %v", types(evs))
	}
}

func TestEventJSON(t *testing.T) {
	tr := New("front", cfgWith(func(c *Config) { c.HFOVDeg = 90 }), seqIDs())
	evs := tr.Window(ok(0, src{0.5, 0.5, 0.2, 0.3, "dog"}))
	evs = append(evs, tr.EndAll(ReasonStopped, t0.Add(time.Minute))...)
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		`"schema":"garssl.event/v1","type":"new","stream":"front","time":"2026-03-01T12:00:03Z"`,
		`"before":null,"key":{"run_id":"run1","stream":"front","seq":0}}`,
		`"type":"end"`, `"key":null,"reason":"stopped"`,
		`"id":"t1","label":"dog","confidence":0.8,"first_seen":"2026-03-01T12:00:00Z","last_seen":"2026-03-01T12:00:03Z","hits":1`,
		`"bbox":[512,252,767,467]`, `"smoothed_bbox":[512,252,767,467]`, `"bearing_deg":0`, `"smoothed_bearing_deg":0`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("events JSON lacks %s:\n%s", want, s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := map[string]func(*Config){
		"confirm_hits":       func(c *Config) { c.ConfirmHits = 0 },
		"end_after":          func(c *Config) { c.EndAfter = 0 },
		"lost_after":         func(c *Config) { c.LostAfter = c.EndAfter - 1 },
		"heartbeat":          func(c *Config) { c.Heartbeat = -1 },
		"update_bearing_deg": func(c *Config) { c.UpdateBearingDeg = 0 },
		"update_centre_frac": func(c *Config) { c.UpdateCentreFrac = 1.5 },
		"hfov_deg":           func(c *Config) { c.HFOVDeg = 180 },
		"max_tracks":         func(c *Config) { c.MaxTracks = MaxTracksLimit + 1 },
	}
	for name, f := range bad {
		err := cfgWith(f).Validate()
		if err == nil || !strings.HasPrefix(err.Error(), name+" = ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestULIDSource(t *testing.T) {
	next := NewULIDSource()
	prev := ""
	for range 10000 {
		id := next()
		if len(id) != 26 || id <= prev {
			t.Fatalf("id %q after %q: want increasing 26-character ULIDs", id, prev)
		}
		prev = id
	}
}

func TestMalformedInput(t *testing.T) {
	tr := New("front", DefaultConfig(), nil)
	if evs := tr.Window(nil); evs != nil {
		t.Errorf("nil detection: %v", evs)
	}
	d := ok(0, src{0.5, 0.5, 0.2, 0.2, "dog"})
	d.Window = gar.WindowInfo{} // no time: stale, taken as unknown
	if evs := tr.Window(d); evs != nil || d.Sources[0].TrackID != "" {
		t.Errorf("detection without a window time: %v", evs)
	}
	bad := ok(1, src{0.5, 0.5, 0.2, 0.2, "dog"})
	nan := math.NaN()
	bad.Sources[0].BBoxNorm = [4]float64{nan, math.Inf(1), -3, 0.7}
	bad.Sources[0].LabelConfidence = math.Inf(1)
	bad.Sources[0].BearingDeg = &nan
	evs := tr.Window(bad)
	if len(evs) != 1 {
		t.Fatalf("events %v", types(evs))
	}
	if _, err := json.Marshal(evs); err != nil {
		t.Errorf("event of a malformed source does not marshal: %v", err)
	}
	if got := evs[0].Track; got.BBoxNorm != [4]float64{0, 0.7, 0, 1} || got.Confidence != 1 || got.BearingDeg != nil {
		t.Errorf("cleaned track = %+v", got)
	}
}
