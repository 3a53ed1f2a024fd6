package capture_test

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/windowing"
)

// tsClip makes seconds of 320×240 25 fps H.264 and a 440 Hz AAC sine at
// half scale as MPEG-TS whose timestamps start at offset seconds (the
// muxer adds its own 1.4 s; values past 2^33 ticks wrap, as on the wire).
func tsClip(t *testing.T, dir, name string, seconds, offset float64) string {
	t.Helper()
	return testmedia.File(t, dir, name, testmedia.Args(testmedia.TestPattern(320, 240, 25, seconds),
		testmedia.Sine(0.5, 440, 48000, 2, seconds),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-shortest",
			"-output_ts_offset", strconv.FormatFloat(offset, 'f', 3, 64), "-f", "mpegts"})...)
}

// concat writes the files one after the other into dir/name, as
// `cat a.ts b.ts` does.
func concat(t *testing.T, dir, name string, parts ...string) string {
	t.Helper()
	var all []byte
	for _, p := range parts {
		all = append(all, readFile(t, p)...)
	}
	out := filepath.Join(dir, name)
	writeFile(t, out, all)
	return out
}

// sineDBFS is the level of the test media's sine.
var sineDBFS = 20 * math.Log10(0.5/math.Sqrt2)

// TestTimestampJumpsInFiles: whatever a file's timestamps do, its media
// become windows on one timeline that never goes back, with the real audio
// after the jump and no phantom windows. Today's failures: a backward jump
// stopped the windows for good; a forward jump of hours filled them with
// silence (GBs of it) and no_frame drops; a 33-bit wrap broke the timeline.
func TestTimestampJumpsInFiles(t *testing.T) {
	dir := t.TempDir()
	wrap := math.Ldexp(1, 33) / 90000 // 26.5 h
	cases := []struct {
		name     string
		parts    [][2]float64 // seconds, offset
		want     int          // windows
		wantJump string
		wraps    uint64
	}{
		{"backward: b restarts at 0 after a ends at 40 s", [][2]float64{{10, 30}, {10, 0}}, 6, capture.JumpBackward, 0},
		{"forward by 10 hours", [][2]float64{{10, 0}, {10, 36000}}, 6, capture.JumpForward, 0},
		// FFmpeg's wrap correction adds 2^33 ticks to timestamps below the
		// first one it saw minus 60 s: a 900 s step back becomes +26.5 h.
		{"900 s back, which FFmpeg turns into 26.5 h ahead", [][2]float64{{10, 1000}, {10, 100}}, 6, capture.JumpBackward, 0},
		{"33-bit wrap, after a jump to just below it", [][2]float64{{7, 0}, {8, wrap - 4}}, 5, capture.JumpBackward, 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var parts []string
			for j, p := range tc.parts {
				parts = append(parts, tsClip(t, dir, "p"+strconv.Itoa(i)+strconv.Itoa(j)+".ts", p[0], p[1]))
			}
			path := concat(t, dir, "cat"+strconv.Itoa(i)+".ts", parts...)
			before := rss(t)
			c := newCollector(t, capture.Config{Name: "jump", Input: path}, 3*time.Second, 3*time.Second)
			if err := c.run(t, 2*time.Minute); err != nil {
				t.Fatal(err)
			}
			grew := rss(t) - before
			ws := c.snapshot()
			st, cs := c.cutter.Stats(), c.source.Stats()
			t.Logf("%d windows, cutter %+v, source %+v, RSS grew %d KiB", len(ws), st, cs, grew)
			if len(ws) != tc.want {
				t.Errorf("%d windows, want %d", len(ws), tc.want)
			}
			for k, w := range ws {
				if w.Seq != uint64(k+1) || w.PTSStart != time.Duration(k)*3*time.Second {
					t.Errorf("window %d: seq %d at %v; want seq %d at %v", k, w.Seq, w.PTSStart, k+1, time.Duration(k)*3*time.Second)
				}
				checkWindow(t, w, 3*time.Second, time.Second/25, 320, 240)
				// The seam may cost a few milliseconds of the window's audio.
				if math.Abs(w.RMSDBFS-sineDBFS) > 0.5 || w.SilenceFilled > 1600 {
					t.Errorf("window %d: %.1f dBFS with %d samples filled; want the sine (%.1f dBFS)", w.Seq, w.RMSDBFS, w.SilenceFilled, sineDBFS)
				}
			}
			if len(st.Dropped) != 0 {
				t.Errorf("drops %v", st.Dropped)
			}
			if cs.Discontinuities[tc.wantJump] != 1 || cs.Discontinuities[capture.JumpWrap] != tc.wraps {
				t.Errorf("discontinuities %v, want one %s and %d wraps", cs.Discontinuities, tc.wantJump, tc.wraps)
			}
			if grew > 100*1024 {
				t.Errorf("RSS grew %d MiB: the jump was filled", grew/1024)
			}
		})
	}
}

// TestAudioHoleIsFilledAndCountedOnce: a 2.5 s hole in a file's audio is
// silence in the windows, and every silent sample is counted. (The
// resampler used to fill it uncounted: 1.97 s of zeros, silence_filled 0.)
func TestAudioHoleIsFilledAndCountedOnce(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "hole.mkv", testmedia.Args(testmedia.TestPattern(320, 240, 25, 9),
		testmedia.Sine(0.5, 440, 48000, 1, 9),
		[]string{"-af", "aselect='not(between(t,3.25,5.75))'", "-c:v", "libx264", "-preset", "ultrafast",
			"-c:a", "pcm_s16le", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "hole", Input: path}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) != 3 {
		t.Fatalf("%d windows", len(ws))
	}
	var zeros, filled int
	for _, w := range ws {
		z := zeroSamples(w)
		if d := z - w.SilenceFilled; d > 160 || d < -160 {
			t.Errorf("window %d: %d silent samples, %d counted as filled", w.Seq, z, w.SilenceFilled)
		}
		zeros += z
		filled += w.SilenceFilled
	}
	if filled < 40000-800 || filled > 40000+800 {
		t.Errorf("%d samples filled in all, want 2.5 s = 40000", filled)
	}
	if got := c.cutter.Stats().SilenceFilled; int(got) != filled {
		t.Errorf("stats say %d filled, the windows %d", got, filled)
	}
}

// zeroSamples counts the samples of w's WAV that are exactly 0 in runs of
// two or more: a sine at half scale crosses 0 in single samples only.
func zeroSamples(w windowing.Window) int {
	n, run := 0, 0
	for i := 44; i+1 < len(w.WAV); i += 2 {
		if w.WAV[i] != 0 || w.WAV[i+1] != 0 {
			run = 0
			continue
		}
		if run++; run == 2 {
			n += 2
		} else if run > 2 {
			n++
		}
	}
	return n
}

// TestLoopSeamLosesNothing: a looped file gives a window for every slot,
// across every restart, each with the frame nearest its centre. (At each
// seam the window used to be dropped as no_frame, or to take a frame
// farther than the nearest.)
func TestLoopSeamLosesNothing(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "loop.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 2.2),
		testmedia.Sine(0.5, 440, 48000, 2, 2.2),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "loop", Input: path, Loop: true}, time.Second, time.Second)
	ctx := stopAfterWindows(t, c, 12)
	if err := c.source.Run(ctx); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) < 12 {
		t.Fatalf("%d windows", len(ws))
	}
	for k, w := range ws[:12] {
		if w.Seq != uint64(k+1) {
			t.Errorf("window %d has seq %d", k+1, w.Seq)
		}
		checkWindow(t, w, time.Second, time.Second/25, 320, 240)
	}
	if d := c.cutter.Stats().Dropped; len(d) != 0 {
		t.Errorf("drops %v", d)
	}
	if n := c.source.Stats().Discontinuities[capture.JumpReopen]; n < 4 {
		t.Errorf("%d restarts counted over 12 s of a 2.2 s loop", n)
	}
}

// TestFileWindowsInTime: a file read as fast as it decodes stamps its
// windows when they are cut, never in the future (not at the anchor plus
// their position: minutes ahead for a long file). With Realtime it is read
// as `ffmpeg -re` does, so no window is cut before its media's time has
// passed.
func TestFileWindowsInTime(t *testing.T) {
	dir := t.TempDir()
	path := tsClip(t, dir, "clip.ts", 4.2, 0)
	for _, realtime := range []bool{false, true} {
		t.Run("realtime="+strconv.FormatBool(realtime), func(t *testing.T) {
			c := newCollector(t, capture.Config{Name: "file", Input: path, Realtime: realtime}, time.Second, time.Second)
			start := time.Now()
			if err := c.run(t, time.Minute); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.windows) != 4 {
				t.Fatalf("%d windows", len(c.windows))
			}
			for i, w := range c.windows {
				cut := c.cutAt[i]
				if w.WallEnd.After(cut) {
					t.Errorf("window %d ends at %v, after it was cut at %v", w.Seq, w.WallEnd, cut)
				}
				if realtime && cut.Sub(start) < w.PTSEnd-100*time.Millisecond {
					t.Errorf("window %d (media to %v) was cut %v after the start: faster than real time", w.Seq, w.PTSEnd, cut.Sub(start))
				}
			}
		})
	}
}

// TestLongOptionValueDoesNotCrash: FFmpeg logs a rejected option with its
// value; a 1,600-character one used to smash go-astiav's 1 KiB log buffer.
func TestLongOptionValueDoesNotCrash(t *testing.T) {
	dir := t.TempDir()
	path := tsClip(t, dir, "a.ts", 1, 0)
	long := ""
	for len(long) < 1600 {
		long += "1234567890"
	}
	c := newCollector(t, capture.Config{Name: "long", Input: path, InputOptions: map[string]string{"probesize": long}}, time.Second, time.Second)
	err := c.run(t, time.Minute)
	if err == nil {
		t.Fatal("a 1,600-digit probesize was accepted")
	}
	t.Log(err)
	if _, statErr := os.Stat(path); statErr != nil {
		t.Fatal(statErr)
	}
}
