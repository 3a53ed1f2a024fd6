package windowing

import (
	"testing"
	"time"
)

// array delivers a two-microphone array's sound from..to in chunks at
// f.arrayRate: sample i of the timeline (at that rate) is i+1 on the first
// microphone and -(i+1) on the second, so a window's Array says exactly
// which stretch it holds, and 0 is silence.
func (f *feed) array(from, to time.Duration) {
	r := int64(f.arrayRate)
	for p := from; p < to; p += chunk {
		first := (int64(p)*r + int64(time.Second)/2) / int64(time.Second)
		end := (int64(min(p+chunk, to))*r + int64(time.Second)/2) / int64(time.Second)
		a, b := make([]float32, end-first), make([]float32, end-first)
		for i := range a {
			a[i] = float32(first + int64(i) + 1)
			b[i] = -a[i]
		}
		f.c.ArrayAudio(p, f.arrayRate, [][]float32{a, b})
	}
}

// checkArray checks w's Array against the feed's encoding: silent at the
// sample offsets silent reports true for, the timeline's own samples
// elsewhere.
func checkArray(t *testing.T, w Window, rate int, length time.Duration, silent func(i int) bool) {
	t.Helper()
	a := w.Array
	if a == nil {
		t.Fatalf("window %d has no Array", w.Seq)
	}
	want := int(int64(length) * int64(rate) / int64(time.Second))
	if a.Rate != rate || len(a.Channels) != 2 || len(a.Channels[0]) != want || len(a.Channels[1]) != want {
		t.Fatalf("window %d: Array %d Hz, %d channels of %d samples; want %d Hz, 2 of %d", w.Seq, a.Rate, len(a.Channels), len(a.Channels[0]), rate, want)
	}
	first := int64(w.PTSStart) * int64(rate) / int64(time.Second)
	bad := 0
	for i := range want {
		v := float32(first + int64(i) + 1)
		if silent(i) {
			v = 0
		}
		if a.Channels[0][i] != v || a.Channels[1][i] != -v {
			if bad++; bad <= 3 {
				t.Errorf("window %d sample %d: %v / %v, want %v / %v", w.Seq, i, a.Channels[0][i], a.Channels[1][i], v, -v)
			}
		}
	}
	if bad > 3 {
		t.Errorf("window %d: %d samples wrong in all", w.Seq, bad)
	}
}

func never(int) bool { return false }

// TestCutterArray: each window's Array holds the array's sound for exactly
// the window's stretch, silent where the mono sound was silence-filled or
// the array's sound is missing, and follows gaps and rate changes.
func TestCutterArray(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	// between is true for offsets (at rate) within [from, to) of a window.
	between := func(rate int, from, to time.Duration) func(int) bool {
		lo, hi := int(int64(from)*int64(rate)/int64(s)), int(int64(to)*int64(rate)/int64(s))
		return func(i int) bool { return i >= lo && i < hi }
	}
	cases := []struct {
		name        string
		length, hop time.Duration
		rate        int
		drive       func(f *feed)
		wantStarts  []time.Duration
		wantRates   []int
		silent      []func(int) bool
	}{
		{
			name: "overlapping windows at 8 kHz", length: 3 * s, hop: 1500 * ms, rate: 8000,
			drive:      func(f *feed) { f.both(0, 7*s) },
			wantStarts: []time.Duration{0, 1500 * ms, 3 * s}, wantRates: []int{8000, 8000, 8000},
			silent: []func(int) bool{never, never, never},
		},
		{
			name: "silent where the mono sound was filled", length: 3 * s, hop: 3 * s, rate: 16000,
			drive: func(f *feed) {
				f.both(0, 2*s)
				f.array(2*s, 2500*ms) // the array's sound goes on; the mono's has a hole
				f.video(2*s, 2500*ms, 25)
				f.both(2500*ms, 7*s)
			},
			wantStarts: []time.Duration{0, 3 * s}, wantRates: []int{16000, 16000},
			silent: []func(int) bool{between(16000, 2*s, 2500*ms), never},
		},
		{
			name: "silent where the array's sound is missing", length: 3 * s, hop: 3 * s, rate: 12000,
			drive: func(f *feed) {
				f.both(0, s)
				f.audio(s, 1500*ms)
				f.video(s, 1500*ms, 25)
				f.both(1500*ms, 7*s)
			},
			wantStarts: []time.Duration{0, 3 * s}, wantRates: []int{12000, 12000},
			silent: []func(int) bool{between(12000, s, 1500*ms), never},
		},
		{
			name: "a gap starts the array afresh with the new grid", length: 2 * s, hop: 2 * s, rate: 8000,
			drive: func(f *feed) {
				f.both(0, 3*s)
				f.c.Gap(3*s, 10500*ms)
				f.both(10500*ms, 13*s)
			},
			wantStarts: []time.Duration{0, 10500 * ms}, wantRates: []int{8000, 8000},
			silent: []func(int) bool{never, never},
		},
		{
			name: "a rate change mid-stream", length: 3 * s, hop: 3 * s, rate: 16000,
			drive: func(f *feed) {
				f.both(0, 3*s)
				f.arrayRate = 8000
				f.both(3*s, 7*s)
			},
			wantStarts: []time.Duration{0, 3 * s}, wantRates: []int{16000, 8000},
			silent: []func(int) bool{never, never},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t, tc.length, tc.hop)
			f.arrayRate = tc.rate
			tc.drive(f)
			f.c.Flush()
			if len(f.windows) != len(tc.wantStarts) {
				t.Fatalf("got %d windows, want %d (stats %+v)", len(f.windows), len(tc.wantStarts), f.c.Stats())
			}
			for i, w := range f.windows {
				if w.PTSStart != tc.wantStarts[i] {
					t.Errorf("window %d starts at %v, want %v", i, w.PTSStart, tc.wantStarts[i])
				}
				checkArray(t, w, tc.wantRates[i], tc.length, tc.silent[i])
			}
		})
	}
}

// TestCutterArrayBounded: array sound with no mono sound to cut windows
// (a stuck mix) does not grow the buffer without end.
func TestCutterArrayBounded(t *testing.T) {
	f := newFeed(t, 3*time.Second, 3*time.Second)
	f.arrayRate = 16000
	f.array(0, time.Minute)
	if n, limit := len(f.c.array.chans[0]), int(f.c.array.at(3*time.Second+2*LagAllowance)); n > limit {
		t.Errorf("the array buffer holds %d samples after a minute, want at most %d", n, limit)
	}
}
