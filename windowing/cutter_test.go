package windowing

import (
	"github.com/garssl/garssld/media"
	"math"
	"strings"
	"testing"
	"time"
)

// feed drives a Cutter the way capture does: audio in 20 ms chunks and
// video frames at fps, interleaved in timeline order.
type feed struct {
	t       *testing.T
	c       *Cutter
	windows []Window
	// arrayRate, when set, has both deliver a two-microphone array's
	// sound too (see array).
	arrayRate int
}

func newFeed(t *testing.T, length, hop time.Duration) *feed {
	f := &feed{t: t}
	var err error
	f.c, err = NewCutter(Config{Stream: "s", Length: length, Hop: hop}, func(w Window) { f.windows = append(f.windows, w) })
	if err != nil {
		t.Fatal(err)
	}
	f.c.Anchor(time.Unix(1000, 0))
	return f
}

const chunk = 20 * time.Millisecond

func tone(n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * 32767 * math.Sin(2*math.Pi*440*float64(i)/SampleRate))
	}
	return s
}

// audio delivers audio from..to in chunks.
func (f *feed) audio(from, to time.Duration) {
	for p := from; p < to; p += chunk {
		f.c.Audio(p, tone(int(samplesAt(min(chunk, to-p))), 0.5))
	}
}

// video delivers frames from..to at fps, choosing pictures like capture does.
func (f *feed) video(from, to time.Duration, fps int) {
	interval := time.Second / time.Duration(fps)
	var held time.Duration = -1
	for p := from; p < to; p += interval {
		for {
			target := f.c.PictureTarget()
			if p < target {
				held = p
				break
			}
			best := p
			if held >= 0 && target-held < p-target {
				best = held
			}
			pic := media.Picture{Target: target, Pos: best, Width: 640, Height: 480, ModelWidth: 224, ModelHeight: 224}
			if d := best - target; d <= media.PictureTolerance && d >= -media.PictureTolerance {
				pic.JPEG = []byte{0xff, 0xd8}
			}
			f.c.Picture(pic)
			if best != p {
				held = -1
			}
			if f.c.PictureTarget() == target {
				break
			}
		}
		f.c.VideoAt(p)
	}
}

// both interleaves audio and video over [from, to).
func (f *feed) both(from, to time.Duration) {
	for p := from; p < to; p += 100 * time.Millisecond {
		if f.arrayRate > 0 {
			f.array(p, min(p+100*time.Millisecond, to))
		}
		f.audio(p, min(p+100*time.Millisecond, to))
		f.video(p, min(p+100*time.Millisecond, to), 25)
	}
}

func TestCutterWindows(t *testing.T) {
	s := time.Second
	cases := []struct {
		name        string
		length, hop time.Duration
		drive       func(f *feed)
		wantStarts  []time.Duration
		wantSeqs    []uint64
		wantSilence []int
		wantDropped map[string]uint64
	}{
		{
			name: "contiguous", length: 3 * s, hop: 3 * s,
			drive:      func(f *feed) { f.both(0, 10*s) },
			wantStarts: []time.Duration{0, 3 * s, 6 * s}, wantSeqs: []uint64{1, 2, 3}, wantSilence: []int{0, 0, 0},
		},
		{
			name: "overlapping hop", length: 3 * s, hop: s,
			drive:      func(f *feed) { f.both(0, 5*s) },
			wantStarts: []time.Duration{0, s, 2 * s}, wantSeqs: []uint64{1, 2, 3}, wantSilence: []int{0, 0, 0},
		},
		{
			name: "audio gap filled with silence", length: 3 * s, hop: 3 * s,
			drive: func(f *feed) {
				f.both(0, 2*s)
				f.video(2*s, 2500*time.Millisecond, 25)
				f.both(2500*time.Millisecond, 7*s)
			},
			wantStarts: []time.Duration{0, 3 * s}, wantSeqs: []uint64{1, 2}, wantSilence: []int{8000, 0},
		},
		{
			name: "jitter within 40 ms is contiguous", length: 3 * s, hop: 3 * s,
			drive: func(f *feed) {
				f.both(0, s)
				f.c.Audio(s+30*time.Millisecond, tone(16000*2, 0.5)) // 30 ms late stamp
				f.video(s, 4*s, 25)
			},
			wantStarts: []time.Duration{0}, wantSeqs: []uint64{1}, wantSilence: []int{0},
		},
		{
			name: "frozen camera drops windows as no_frame", length: 2 * s, hop: 2 * s,
			drive: func(f *feed) {
				f.both(0, 2*s)
				f.audio(2*s, 9*s) // no video from 2 s on
				f.video(9*s, 11*s, 25)
				f.audio(9*s, 11*s)
			},
			wantStarts: []time.Duration{0, 8 * s}, wantSeqs: []uint64{1, 5}, wantSilence: []int{0, 0},
			wantDropped: map[string]uint64{DropNoFrame: 3},
		},
		{
			name: "dead microphone closes windows with silence", length: 2 * s, hop: 2 * s,
			drive: func(f *feed) {
				f.both(0, 2*s)
				f.video(2*s, 7*s, 25) // no audio from 2 s on
			},
			// The last window closes at the end of the media, which the
			// video shows reached past it.
			wantStarts: []time.Duration{0, 2 * s, 4 * s}, wantSeqs: []uint64{1, 2, 3}, wantSilence: []int{0, 32000, 32000},
		},
		{
			name: "a gap longer than a window is one drop, and its seqs are skipped", length: 2 * s, hop: 2 * s,
			drive: func(f *feed) {
				f.both(0, 3*s)
				f.c.Gap(3*s, 10500*time.Millisecond)
				f.both(10500*time.Millisecond, 13*s)
			},
			// Slots 2 s–4 s, 4–6, 6–8, 8–10 and 10–12 (seq 2–6) touch the
			// gap; the new grid's first window is seq 7.
			wantStarts: []time.Duration{0, 10500 * time.Millisecond}, wantSeqs: []uint64{1, 7}, wantSilence: []int{0, 0},
			wantDropped: map[string]uint64{DropGap: 1},
		},
		{
			name: "a gap with overlapping windows skips every slot it touches", length: 3 * s, hop: s,
			drive: func(f *feed) {
				f.both(0, 5*s)
				f.c.Gap(5*s, 20*s)
				f.both(20*s, 24*s)
			},
			// Slots starting at 0, 1, 2 close before the gap (seq 1–3);
			// those starting at 3 … 19 s (seq 4–20) are lost.
			wantStarts: []time.Duration{0, s, 2 * s, 20 * s, 21 * s}, wantSeqs: []uint64{1, 2, 3, 21, 22}, wantSilence: []int{0, 0, 0, 0, 0},
			wantDropped: map[string]uint64{DropGap: 1},
		},
		{
			name: "an audio hole longer than a window and the lag is not filled", length: 2 * s, hop: 2 * s,
			drive: func(f *feed) {
				f.both(0, 2*s)
				f.audio(2*s, 3*s)
				f.c.Audio(time.Hour, tone(320, 0.5)) // no Gap call: the cutter bounds it itself
				f.both(time.Hour+20*time.Millisecond, time.Hour+5*s)
			},
			wantStarts: []time.Duration{0, time.Hour, time.Hour + 2*s}, wantSeqs: []uint64{1, 1801, 1802}, wantSilence: []int{0, 0, 0},
			wantDropped: map[string]uint64{DropGap: 1},
		},
		{
			name: "a partial window at the end is not emitted", length: 3 * s, hop: 3 * s,
			drive:      func(f *feed) { f.both(0, 5*s) },
			wantStarts: []time.Duration{0}, wantSeqs: []uint64{1}, wantSilence: []int{0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t, tc.length, tc.hop)
			tc.drive(f)
			f.c.Flush()
			if len(f.windows) != len(tc.wantStarts) {
				t.Fatalf("got %d windows, want %d (stats %+v)", len(f.windows), len(tc.wantStarts), f.c.Stats())
			}
			for i, w := range f.windows {
				if w.PTSStart != tc.wantStarts[i] || w.Seq != tc.wantSeqs[i] {
					t.Errorf("window %d: seq %d start %v, want seq %d start %v", i, w.Seq, w.PTSStart, tc.wantSeqs[i], tc.wantStarts[i])
				}
				if w.SilenceFilled != tc.wantSilence[i] {
					t.Errorf("window %d: %d samples of silence, want %d", i, w.SilenceFilled, tc.wantSilence[i])
				}
				if want := int(samplesAt(tc.length)); w.Samples != want || len(w.WAV) != 44+2*want {
					t.Errorf("window %d: %d samples / %d WAV bytes, want %d", i, w.Samples, len(w.WAV), want)
				}
				if w.Array != nil {
					t.Errorf("window %d has an Array, but no array sound came", i)
				}
				if d := w.FramePTS - (w.PTSStart + tc.length/2); d < -20*time.Millisecond || d > 20*time.Millisecond {
					t.Errorf("window %d: frame at %v is not the one nearest the centre", i, w.FramePTS)
				}
				// The feed's anchor lies far in the past: every window's wall
				// time is the anchor plus its position.
				if !w.WallStart.Equal(time.Unix(1000, 0).Add(w.PTSStart)) || !w.WallEnd.Equal(time.Unix(1000, 0).Add(w.PTSEnd)) {
					t.Errorf("window %d: wall %v–%v", i, w.WallStart, w.WallEnd)
				}
			}
			got := f.c.Stats().Dropped
			for reason, n := range tc.wantDropped {
				if got[reason] != n {
					t.Errorf("dropped[%s] = %d, want %d (all: %v)", reason, got[reason], n, got)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Length: 3 * time.Second, Hop: 3 * time.Second}, true},
		{Config{Length: 3 * time.Second, Hop: 500 * time.Millisecond}, true},
		{Config{Length: 0, Hop: time.Second}, false},
		{Config{Length: time.Second, Hop: -time.Second}, false},
		{Config{Length: time.Second + time.Microsecond, Hop: time.Second}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%v/%v) = %v, want ok=%v", tc.cfg.Length, tc.cfg.Hop, err, tc.ok)
		}
	}
}

func TestRMSDBFS(t *testing.T) {
	for _, tc := range []struct {
		amp  float64
		want float64
	}{{1, -3.01}, {0.5, -9.03}, {0.1, -23.01}} {
		if got := RMSDBFS(tone(48000, tc.amp)); math.Abs(got-tc.want) > 0.05 {
			t.Errorf("RMS of a %.1f sine = %.2f dBFS, want %.2f", tc.amp, got, tc.want)
		}
	}
	if got := RMSDBFS(make([]int16, 100)); got != MinDBFS {
		t.Errorf("silence = %v dBFS, want %v", got, MinDBFS)
	}
}

func TestCheckModelSize(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		ok   bool
	}{{224, 224, true}, {448, 252, true}, {230, 224, false}, {0, 0, false}, {-28, 28, false}} {
		if err := CheckModelSize(tc.w, tc.h); (err == nil) != tc.ok {
			t.Errorf("CheckModelSize(%d,%d) = %v", tc.w, tc.h, err)
		}
	}
}

// BenchmarkCutterWindow measures windowing's own cost per 3 s window:
// buffering 48000 samples, the WAV and the RMS.
func BenchmarkCutterWindow(b *testing.B) {
	c, _ := NewCutter(Config{Stream: "b", Length: 3 * time.Second, Hop: 3 * time.Second}, func(Window) {})
	samples := tone(320, 0.5) // 20 ms
	pos := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		end := pos + 3*time.Second
		for ; pos < end; pos += chunk {
			c.Audio(pos, samples)
			if pos%(40*time.Millisecond) == 0 {
				if tgt := c.PictureTarget(); pos >= tgt {
					c.Picture(media.Picture{Target: tgt, Pos: pos, JPEG: []byte{1}})
				}
				c.VideoAt(pos)
			}
		}
	}
}

// TestDeadMicrophoneClosesWindowsWhileVideoRuns: live, a microphone that
// died must not hold the windows back: each closes with silence once the
// video is LagAllowance past its end, long before the stream ends (Flush).
func TestDeadMicrophoneClosesWindowsWhileVideoRuns(t *testing.T) {
	s := time.Second
	f := newFeed(t, 2*s, 2*s)
	f.both(0, 2*s)
	f.video(2*s, 9*s, 25) // the microphone is gone from 2 s on
	// Without Flush: windows 2–4 and 4–6 s have video 2 s past their end.
	if len(f.windows) != 3 {
		t.Fatalf("%d windows before the end of the media, want 3 (stats %+v)", len(f.windows), f.c.Stats())
	}
	for i, w := range f.windows[1:] {
		if w.SilenceFilled != 32000 || w.RMSDBFS != MinDBFS {
			t.Errorf("window %d: %d samples filled at %.1f dBFS, want all 32000 silent", i+2, w.SilenceFilled, w.RMSDBFS)
		}
	}
	if got := f.c.Stats().SilenceFilled; got != 64000 {
		t.Errorf("stats count %d filled samples, want 64000", got)
	}
}

// TestGapKeepsMicrophoneAudioPastIt: with a separate microphone, sound
// from after a camera outage arrives before the camera reports the gap:
// the camera does so only once its first packet after the outage is
// placed, after FFmpeg probed the reopened input. That sound belongs to the
// windows after the gap: it is kept, not replaced with silence, even when
// the microphone ran on past slots of the old grid that were closed
// without a picture meanwhile.
func TestGapKeepsMicrophoneAudioPastIt(t *testing.T) {
	s := time.Second
	cases := []struct {
		name  string
		micTo time.Duration // how far the microphone's sound ran before the camera's report
		// staleFrame: the camera's last frame before the outage is offered
		// to the current target first, as capture's picker does at a gap;
		// far from the target, it gives a picture without JPEG.
		staleFrame bool
	}{
		{"the old grid still open", 12 * s, false},
		{"old slots given up for want of a picture", 14200 * time.Millisecond, false},
		{"the last frame before the outage offered to a slot past it", 12500 * time.Millisecond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t, 3*s, 3*s)
			f.both(0, 3*s)
			f.audio(3*s, tc.micTo) // the camera is out from 3 s to 10 s; the microphone goes on
			if tc.staleFrame {
				f.c.Picture(media.Picture{Target: f.c.PictureTarget(), Pos: 2960 * time.Millisecond})
			}
			f.c.Gap(3*s, 10*s) // the camera's first frame after the outage
			f.video(10*s, tc.micTo, 25)
			f.both(tc.micTo, 16*s)
			f.c.Flush()
			var after []Window
			for _, w := range f.windows {
				if w.PTSStart >= 10*s {
					after = append(after, w)
				}
			}
			if len(after) != 2 || after[0].PTSStart != 10*s {
				var starts []time.Duration
				for _, w := range after {
					starts = append(starts, w.PTSStart)
				}
				t.Fatalf("windows after the gap start at %v; want 2, from 10 s (stats %+v)", starts, f.c.Stats())
			}
			for _, w := range after {
				if w.SilenceFilled != 0 {
					t.Errorf("window %v–%v: %d samples of silence; the microphone's sound was there", w.PTSStart, w.PTSEnd, w.SilenceFilled)
				}
			}
		})
	}
}

// TestGapKeepsFilledSilencePastIt: a hole in the microphone's sound after
// the camera resumed, filled with silence before the camera reports its
// gap, is still counted in the window that carries it.
func TestGapKeepsFilledSilencePastIt(t *testing.T) {
	s := time.Second
	f := newFeed(t, 3*s, 3*s)
	f.both(0, 3*s)
	f.audio(3*s, 11*s)
	f.audio(11500*time.Millisecond, 12*s) // half a second lost on the way: filled
	f.c.Gap(3*s, 10*s)
	f.video(10*s, 12*s, 25)
	f.both(12*s, 16*s)
	f.c.Flush()
	for _, w := range f.windows {
		if w.PTSStart != 10*s {
			continue
		}
		if w.SilenceFilled != 8000 {
			t.Errorf("window %v–%v: %d samples filled, want the 8000 of the microphone's hole", w.PTSStart, w.PTSEnd, w.SilenceFilled)
		}
		return
	}
	t.Fatalf("no window from 10 s (stats %+v)", f.c.Stats())
}

// TestWallTimes: a window's wall-clock times carry a monotonic reading, so
// that its age is immune to system clock steps; windows of media read
// faster than real time end when they are cut, never in the future.
func TestWallTimes(t *testing.T) {
	s := time.Second
	f := newFeed(t, 3*s, 3*s)
	start := time.Now()
	f.c.Anchor(start) // a file read as fast as it decodes: 9 s in no time
	f.both(0, 10*s)
	cut := time.Now()
	if len(f.windows) != 3 {
		t.Fatalf("%d windows", len(f.windows))
	}
	for _, w := range f.windows {
		if !strings.Contains(w.WallEnd.String(), "m=") || !strings.Contains(w.WallStart.String(), "m=") {
			t.Errorf("window %d: wall times %v / %v carry no monotonic reading", w.Seq, w.WallStart, w.WallEnd)
		}
		if w.WallEnd.After(cut) || w.WallEnd.Before(start) {
			t.Errorf("window %d ends at %v, outside the %v–%v it was cut in", w.Seq, w.WallEnd, start, cut)
		}
		if w.WallEnd.Sub(w.WallStart) != 3*s {
			t.Errorf("window %d spans %v of wall time", w.Seq, w.WallEnd.Sub(w.WallStart))
		}
	}
	// Live: the anchor lies in the past, and a window's age is how long
	// ago its end was.
	f = newFeed(t, 3*s, 3*s)
	f.c.Anchor(time.Now().Add(-time.Minute))
	f.both(0, 4*s)
	if age := time.Since(f.windows[0].WallEnd); age < time.Minute-3*s-time.Second || age > time.Minute {
		t.Errorf("age of a window that ended 57 s ago: %v", age)
	}
}

// TestAlignGrid: the first key frame of a live video moves the grid forward
// by less than a hop so that a window is centred on it, dropping the sound
// before the new first window; once the grid has a picture or a closed
// window it stays; a gap's new grid may be placed again.
func TestAlignGrid(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name        string
		length, hop time.Duration
		audioBefore time.Duration // sound delivered before the key frame is reported
		key         time.Duration
		wantStarts  []time.Duration // the first windows' starts
	}{
		{"key frame after the first centre", 3 * time.Second, 3 * time.Second, 1700 * ms, 1700 * ms, []time.Duration{200 * ms, 3200 * ms}},
		{"key frame before the first centre", 3 * time.Second, 3 * time.Second, 400 * ms, 400 * ms, []time.Duration{1900 * ms, 4900 * ms}},
		{"key frame on the first centre", 3 * time.Second, 3 * time.Second, 1500 * ms, 1500 * ms, []time.Duration{0, 3 * time.Second}},
		{"a later key frame, a hop further", 3 * time.Second, 3 * time.Second, 4 * time.Second, 4 * time.Second, []time.Duration{2500 * ms, 5500 * ms}},
		{"overlapping windows", 2 * time.Second, 1 * time.Second, 1300 * ms, 1300 * ms, []time.Duration{300 * ms, 1300 * ms, 2300 * ms}},
		{"no sound yet", 3 * time.Second, 3 * time.Second, 0, 1700 * ms, []time.Duration{200 * ms, 3200 * ms}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t, tc.length, tc.hop)
			f.audio(0, tc.audioBefore)
			f.c.AlignGrid(tc.key)
			// A second key frame does not move the grid again.
			f.c.AlignGrid(tc.key + 700*ms)
			if got, want := f.c.PictureTarget(), tc.wantStarts[0]+tc.length/2; got != want {
				t.Fatalf("picture target %v after the key frame at %v, want %v", got, tc.key, want)
			}
			f.audio(tc.audioBefore, tc.key)
			f.both(tc.key, tc.wantStarts[len(tc.wantStarts)-1]+tc.length+LagAllowance)
			if len(f.windows) < len(tc.wantStarts) {
				t.Fatalf("%d windows, want at least %d (stats %+v)", len(f.windows), len(tc.wantStarts), f.c.Stats())
			}
			for i, want := range tc.wantStarts {
				w := f.windows[i]
				if w.PTSStart != want || w.PTSEnd != want+tc.length || w.Seq != uint64(i+1) {
					t.Errorf("window %d: seq %d %v–%v, want seq %d from %v", i, w.Seq, w.PTSStart, w.PTSEnd, i+1, want)
				}
				// The sound is whole: nothing before the move leaks in, and
				// the moved buffer holds the samples of their positions.
				if w.SilenceFilled != 0 && w.PTSStart >= tc.audioBefore {
					t.Errorf("window %d: %d samples of silence", i, w.SilenceFilled)
				}
			}
			if w := f.windows[0]; w.FramePTS != w.PTSStart+tc.length/2 && tc.key >= tc.wantStarts[0] {
				t.Errorf("the first window's picture is at %v, want the key frame on its centre %v", w.FramePTS, w.PTSStart+tc.length/2)
			}
		})
	}

	t.Run("stays once a picture is taken", func(t *testing.T) {
		f := newFeed(t, 3*time.Second, 3*time.Second)
		f.both(0, 1600*ms) // the picture for the centre at 1.5 s is taken
		f.c.AlignGrid(1700 * ms)
		f.both(1600*ms, 8*time.Second)
		if len(f.windows) == 0 || f.windows[0].PTSStart != 0 {
			t.Fatalf("the grid moved after its first picture: %+v", f.windows)
		}
	})
	t.Run("a gap's new grid is placed again", func(t *testing.T) {
		f := newFeed(t, 3*time.Second, 3*time.Second)
		f.c.AlignGrid(1500 * ms)
		f.both(0, 3*time.Second)
		f.c.Gap(3*time.Second, 10*time.Second)
		f.c.AlignGrid(10400 * ms)
		if got, want := f.c.PictureTarget(), 10400*ms+3*time.Second; got != want {
			t.Fatalf("picture target after the gap %v, want %v (the key frame at 10.4 s is before the new grid's first centre)", got, want)
		}
	})
}
