package capture_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/windowing"
)

// splitRun is a camera and a microphone on two UDP ports, each fed by
// senders that can stop and start again (timestamps from 0 each time).
type splitRun struct {
	c                *collector
	cfg              capture.Config
	window           time.Duration
	camPort, micPort int
}

func newSplitRun(t *testing.T) *splitRun {
	r := &splitRun{camPort: testmedia.FreeUDPPort(t), micPort: testmedia.FreeUDPPort(t), window: 3 * time.Second}
	r.cfg = capture.Config{
		Name: "split", Input: fmt.Sprintf("udp://127.0.0.1:%d", r.camPort), Audio: fmt.Sprintf("udp://127.0.0.1:%d", r.micPort),
		Window: r.window, StallTimeout: 1500 * time.Millisecond, BackoffMin: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
	r.c = newCollector(t, r.cfg, r.window, r.window)
	return r
}

// logWindowsOnFailure logs, if the test failed, every window with its
// wall-clock span and the time it was cut relative to zero, beside the
// senders' spans: it tells a stream that lost its way from a bound the
// test set too tight.
func (r *splitRun) logWindowsOnFailure(t *testing.T, zero time.Time, senders map[string]*sender) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		rel := func(x time.Time) time.Duration { return x.Sub(zero).Round(time.Millisecond) }
		for name, s := range senders {
			select {
			case <-s.done:
				t.Logf("sender %s: %v–%v", name, rel(s.started), rel(s.ended))
			default:
				t.Logf("sender %s: from %v, still sending", name, rel(s.started))
			}
		}
		r.c.mu.Lock()
		defer r.c.mu.Unlock()
		for i, w := range r.c.windows {
			t.Logf("window %d: pts %v–%v, frame %v, wall %v–%v, cut %v, %.1f dBFS, %d samples filled",
				w.Seq, w.PTSStart, w.PTSEnd, w.FramePTS, rel(w.WallStart), rel(w.WallEnd), rel(r.c.cutAt[i]), w.RMSDBFS, w.SilenceFilled)
		}
		t.Logf("gaps %v, cutter %+v, source %+v, states %v", r.c.gaps, r.c.cutter.Stats(), r.c.source.Stats(), r.c.states)
	})
}

// windowsWithin returns the windows whose wall-clock span lies inside
// [from, to).
func (r *splitRun) windowsWithin(from, to time.Time) []windowing.Window {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	var out []windowing.Window
	for _, w := range r.c.windows {
		if !w.WallStart.Before(from) && w.WallEnd.Before(to) {
			out = append(out, w)
		}
	}
	return out
}

// TestSeparateLiveInputsRecover: a camera and a microphone on separate
// live inputs; either pauses 8 s (its sender stops, and a new one starts
// from timestamp 0). The stream carries on, and once both are back the
// windows have pictures and real sound again. (A paused microphone used to
// leave every later window silent; a paused camera, no windows at all.)
func TestSeparateLiveInputsRecover(t *testing.T) {
	for _, pausing := range []string{"microphone", "camera"} {
		t.Run(pausing+" pauses", func(t *testing.T) {
			t.Parallel()
			r := newSplitRun(t)
			dir := t.TempDir()
			video, audio := pausing == "microphone", pausing == "camera"
			steadyPort, pausePort := r.camPort, r.micPort
			if pausing == "camera" {
				steadyPort, pausePort = r.micPort, r.camPort
			}
			// The paused input is reopened, waiting, before its sender is
			// back: the first packet of the return is placed at its arrival.
			const beforeLen, pause = 6 * time.Second, 8 * time.Second
			if reopened := r.cfg.StallTimeout + r.cfg.BackoffMax; reopened >= pause {
				t.Fatalf("stall timeout and backoff (%v) outlast the pause of %v", reopened, pause)
			}
			// The return lasts a window for the input to come back (ffmpeg
			// starting up, probing), the two windows checked, a window for
			// the grid's alignment, and one to spare: the windows' wall
			// times are taken as they are cut, a little before the
			// senders' would say.
			afterLen := 5 * r.window
			steadyLen := beforeLen + pause + afterLen + 2*time.Second
			steadyClip := liveClip(t, dir, "steady.ts", steadyLen.Seconds(), 0, video, audio)
			before := liveClip(t, dir, "before.ts", beforeLen.Seconds(), 0, !video, !audio)
			after := liveClip(t, dir, "after.ts", afterLen.Seconds(), 0, !video, !audio)
			runLive(t, r.c)
			steady := sendTS(t, steadyPort, steadyClip)
			first := sendTS(t, pausePort, before)
			senders := map[string]*sender{"steady": steady, "first": first}
			r.logWindowsOnFailure(t, first.started, senders)
			<-first.done
			for time.Since(first.ended) < pause {
				time.Sleep(20 * time.Millisecond)
			}
			back := sendTS(t, pausePort, after)
			senders["back"] = back
			<-back.done
			<-steady.done
			settled := back.started.Add(r.window)
			waittest.For(t, "windows after the return", 20*time.Second, func() bool {
				return len(r.windowsWithin(settled, back.ended)) >= 2
			})
			for _, w := range r.windowsWithin(settled, back.ended) {
				checkWindow(t, w, r.window, time.Second/25, 320, 240)
				if math.Abs(w.RMSDBFS-sineDBFS) > 1.5 {
					t.Errorf("window %d after the %s came back: %.1f dBFS, %d samples filled; want the sine's %.1f", w.Seq, pausing, w.RMSDBFS, w.SilenceFilled, sineDBFS)
				}
			}
			if n := r.c.source.Stats().Reconnects; n == 0 {
				t.Errorf("the %s was never reconnected", pausing)
			}
			if pausing == "camera" {
				checkCameraReturn(t, r)
			}
		})
	}
}

// checkCameraReturn: the camera's outage is a gap, and a new grid starts
// where its media resumed, moved by less than a hop so that its window is
// centred on the camera's first key frame. The first window of that grid
// has the microphone's sound in full, though the microphone ran on past
// the slots of the old grid while the reopened camera was being probed.
func checkCameraReturn(t *testing.T, r *splitRun) {
	t.Helper()
	r.c.mu.Lock()
	gaps := append([][2]time.Duration(nil), r.c.gaps...)
	r.c.mu.Unlock()
	if len(gaps) == 0 {
		t.Fatal("the camera's outage was not reported as a gap")
	}
	resume := gaps[0][1]
	for _, w := range r.c.snapshot() {
		if w.PTSEnd <= resume {
			continue
		}
		sample := time.Second / windowing.SampleRate
		if d := w.PTSStart - resume; d <= -sample || d >= r.window {
			t.Errorf("the first window after the camera's gap (to %v) starts at %v; want within a hop (%v) of it", resume, w.PTSStart, r.window)
		}
		if off := w.FramePTS - (w.PTSStart + r.window/2); off <= -sample || off >= sample {
			t.Errorf("the first window after the camera's gap (%v–%v) has its picture at %v: not a key frame on its centre", w.PTSStart, w.PTSEnd, w.FramePTS)
		}
		if w.SilenceFilled != 0 || math.Abs(w.RMSDBFS-sineDBFS) > 1.5 {
			t.Errorf("the first window after the camera came back: %.1f dBFS, %d samples filled; want the microphone's sine, %.1f dBFS", w.RMSDBFS, w.SilenceFilled, sineDBFS)
		}
		return
	}
	t.Errorf("no window after the camera's gap %v", gaps[0])
}

// TestSeparateInputsDriftIsCorrected: a microphone whose clock runs 1 %
// slow against the camera's (its sound resampled: 0.99 s of media time per
// second). The drift is measured, and its audio is stretched onto the
// camera's timeline: beeps sent every 2 s lie 2 s apart in the windows,
// not 1.98 s, and no silence is patched in to keep pace.
func TestSeparateInputsDriftIsCorrected(t *testing.T) {
	t.Parallel()
	const seconds = 50
	dir := t.TempDir()
	r := &splitRun{camPort: testmedia.FreeUDPPort(t), micPort: testmedia.FreeUDPPort(t)}
	camClip := liveClip(t, dir, "cam.ts", seconds, 0, true, false)
	r.c = newCollector(t, capture.Config{
		Name: "drift", Input: fmt.Sprintf("udp://127.0.0.1:%d", r.camPort), Audio: fmt.Sprintf("udp://127.0.0.1:%d", r.micPort),
		StallTimeout: 3 * time.Second,
	}, 3*time.Second, 3*time.Second)
	runLive(t, r.c)
	cam := sendTS(t, r.camPort, camClip)
	mic := send(t, r.micPort, "-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=0.5*sin(2*PI*1000*t)*lt(mod(t\\,2)\\,0.2):s=48000:d=%d", seconds),
		"-af", "asetrate=48485,aresample=48000", "-c:a", "aac")
	<-cam.done
	<-mic.done
	waittest.For(t, "the last windows", 20*time.Second, func() bool { return len(r.c.snapshot()) >= seconds/3-4 })

	st := r.c.source.Stats()
	t.Logf("measured drift %.0f ppm", st.DriftPPM)
	if st.DriftPPM > -7500 || st.DriftPPM < -12500 {
		t.Errorf("measured drift %.0f ppm, want about −10000", st.DriftPPM)
	}
	// Once measured (after about 15 s), the beeps keep their 2 s period.
	var onsets []time.Duration
	var filledLate int
	for _, w := range r.c.snapshot() {
		if w.PTSStart < 20*time.Second {
			continue
		}
		filledLate += w.SilenceFilled
		onsets = append(onsets, beepOnsets(w)...)
	}
	var periods []float64
	for i := 1; i < len(onsets); i++ {
		if d := onsets[i] - onsets[i-1]; d > 1500*time.Millisecond && d < 2500*time.Millisecond {
			periods = append(periods, d.Seconds())
		}
	}
	if len(periods) < 6 {
		t.Fatalf("only %d beep periods found in %v", len(periods), onsets)
	}
	sort.Float64s(periods)
	median := periods[len(periods)/2]
	t.Logf("beep period on the timeline: median %.4f s of %d", median, len(periods))
	if math.Abs(median-2) > 0.006 {
		t.Errorf("beeps sent 2 s apart lie %.4f s apart on the timeline", median)
	}
	if filledLate > 16000/10 {
		t.Errorf("%d samples of silence patched in after the drift was measured", filledLate)
	}
}

// beepOnsets finds where beeps start in w's audio: the first loud sample
// after at least half a second of quiet.
func beepOnsets(w windowing.Window) []time.Duration {
	var out []time.Duration
	quiet := 0
	for i := 0; i < w.Samples; i++ {
		v := int16(binary.LittleEndian.Uint16(w.WAV[44+2*i:]))
		if v > 1000 || v < -1000 {
			if quiet >= 8000 {
				out = append(out, w.PTSStart+time.Duration(i)*time.Second/16000)
			}
			quiet = 0
			continue
		}
		quiet++
	}
	return out
}
