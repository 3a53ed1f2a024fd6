package capture_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/windowing"
)

// sender is an ffmpeg process pushing MPEG-TS to a UDP port in real time.
type sender struct {
	done           chan struct{}
	started, ended time.Time // ended is valid once done is closed
	stop           func()
}

// send starts `ffmpeg -re <input args> … -f mpegts udp://127.0.0.1:port`.
func send(t *testing.T, port int, args ...string) *sender {
	t.Helper()
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-re"}, args...)
	full = append(full, "-f", "mpegts", fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=1316", port))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, "ffmpeg", full...)
	cmd.Stderr = os.Stderr
	s := &sender{done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		s.ended = time.Now()
		close(s.done)
	}()
	s.stop = func() { cancel(); <-s.done }
	t.Cleanup(s.stop)
	return s
}

// sendTS sends a prepared MPEG-TS file as it is (timestamps kept).
func sendTS(t *testing.T, port int, file string) *sender {
	return send(t, port, "-copyts", "-i", file, "-c", "copy")
}

// liveClip prepares seconds of 320×240 25 fps H.264 (GOP 1 s) with a
// 440 Hz sine at half scale, as MPEG-TS starting at offset seconds; video
// or audio may be left out.
func liveClip(t *testing.T, dir, name string, seconds, offset float64, video, audio bool) string {
	t.Helper()
	var args []string
	if video {
		args = append(args, testmedia.TestPattern(320, 240, 25, seconds)...)
	}
	if audio {
		args = append(args, testmedia.Sine(0.5, 440, 48000, 2, seconds)...)
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
		"-c:a", "aac", "-output_ts_offset", strconv.FormatFloat(offset, 'f', 3, 64), "-f", "mpegts")
	return testmedia.File(t, dir, name, args...)
}

// runLive runs c's source until the test ends.
func runLive(t *testing.T, c *collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.source.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// checkLiveWindow asserts what every window of a live stream holds: its
// wall-clock end lies before it was cut, by no more than the time a window
// may wait for its last medium. A timeline that lost its way (windows
// labelled seconds away from their content) fails here.
func checkLiveWindow(t *testing.T, w windowing.Window, cut time.Time, length time.Duration) {
	t.Helper()
	if late := cut.Sub(w.WallEnd); late < -100*time.Millisecond || late > length+windowing.LagAllowance+2*time.Second {
		t.Errorf("window %d (%v–%v) was cut %v after its wall-clock end", w.Seq, w.PTSStart, w.PTSEnd, late.Round(time.Millisecond))
	}
}

func TestLiveUDPSenderStopsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	clip := liveClip(t, dir, "a.ts", 6.5, 0, true, true)
	port := testmedia.FreeUDPPort(t)
	c := newCollector(t, capture.Config{
		Name: "udp", Input: fmt.Sprintf("udp://127.0.0.1:%d", port),
		StallTimeout: 1500 * time.Millisecond, BackoffMin: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
	}, 2*time.Second, 2*time.Second)
	runLive(t, c)

	first := sendTS(t, port, clip)
	<-first.done
	waittest.For(t, "windows from the first sender", 20*time.Second, func() bool { return len(c.snapshot()) >= 2 })
	waittest.For(t, "the stall to be noticed", 20*time.Second, func() bool { return c.source.Stats().Stalls >= 1 })
	if st := c.source.Status(); st.State != capture.StateReconnecting && st.State != capture.StateConnecting ||
		!strings.Contains(st.LastError, "media stopped") || !strings.Contains(st.LastError, "1.5s") {
		t.Errorf("status after the sender stopped: %+v; want reconnecting, saying the media stopped and the 1.5s timeout", st)
	}
	firstSession := len(c.snapshot())
	// An outage of 6 s: three windows.
	for time.Since(first.ended) < 6*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	second := sendTS(t, port, clip) // the same clip: its timestamps start again from 0
	<-second.done
	waittest.For(t, "windows from the second sender", 20*time.Second, func() bool { return len(c.snapshot()) >= firstSession+2 })
	if c.source.Stats().Reconnects == 0 {
		t.Error("no reconnect counted")
	}
	ws := c.snapshot()
	c.mu.Lock()
	cuts, gaps := c.cutAt, c.gaps
	c.mu.Unlock()
	for i, w := range ws {
		checkWindow(t, w, 2*time.Second, time.Second/25, 320, 240)
		checkLiveWindow(t, w, cuts[i], 2*time.Second)
		if i > 0 && w.PTSStart < ws[i-1].PTSEnd {
			t.Errorf("window %d starts at %v, before window %d ends at %v", w.Seq, w.PTSStart, ws[i-1].Seq, ws[i-1].PTSEnd)
		}
		if math.Abs(w.RMSDBFS-sineDBFS) > 1 {
			t.Errorf("window %d: %.1f dBFS, want the sine's %.1f", w.Seq, w.RMSDBFS, sineDBFS)
		}
	}
	// The outage is a gap on the timeline as long as the time that passed
	// between the senders (plus ffmpeg's start-up, which varies with load),
	// placed where the second sender's media arrived.
	outage := second.started.Sub(first.ended)
	// (A sender starved of CPU may add a short gap of its own.)
	var gap time.Duration
	for _, g := range gaps {
		gap = max(gap, g[1]-g[0])
	}
	t.Logf("outage %v, timeline gap %v (gaps %v)", outage.Round(time.Millisecond), gap.Round(time.Millisecond), gaps)
	if gap < outage-500*time.Millisecond || gap > outage+3*time.Second {
		t.Errorf("the outage of %v left a timeline gap of %v", outage.Round(time.Millisecond), gap)
	}
	if seq := ws[firstSession].Seq; seq <= ws[firstSession-1].Seq+1 {
		t.Errorf("seq went from %d to %d across an outage of %v: the windows it swallowed were not skipped", ws[firstSession-1].Seq, seq, outage)
	}
	if d := c.cutter.Stats().Dropped[windowing.DropGap]; d < 1 {
		t.Errorf("%d gap drops, want the outage's", d)
	}
	c.mu.Lock()
	states := fmt.Sprint(c.states)
	c.mu.Unlock()
	for _, want := range []string{"running", "reconnecting"} {
		if !strings.Contains(states, want) {
			t.Errorf("state changes %s never reached %s", states, want)
		}
	}
}

// TestLiveWindowsCentredOnKeyFrames: a live camera joined before its
// first key frame (0.37 s after its first sound) gets its window grid moved
// so that windows are centred on key frames. With a 1 s GOP and 2 s windows
// every picture is then a key frame, decoded alone.
func TestLiveWindowsCentredOnKeyFrames(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "late.ts", testmedia.Args(testmedia.Sine(0.5, 440, 48000, 2, 14),
		[]string{"-itsoffset", "0.37"}, testmedia.TestPattern(320, 240, 25, 14),
		[]string{"-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
			"-c:a", "aac", "-f", "mpegts"})...)
	port := testmedia.FreeUDPPort(t)
	c := newCollector(t, capture.Config{Name: "udp", Input: fmt.Sprintf("udp://127.0.0.1:%d", port)}, 2*time.Second, 2*time.Second)
	runLive(t, c)
	sendTS(t, port, clip)
	waittest.For(t, "5 windows", 30*time.Second, func() bool { return len(c.snapshot()) >= 5 })
	ws := c.snapshot()
	if ws[0].PTSStart%(2*time.Second) == 0 {
		t.Errorf("the first window starts at %v: the grid did not move", ws[0].PTSStart)
	}
	for _, w := range ws {
		// Windows start on whole 16 kHz samples, the centre at or just
		// before the key frame; the key frame's position need not.
		if off := w.FramePTS - (w.PTSStart + time.Second); off < 0 || off >= time.Second/16000 {
			t.Errorf("window %d (%v–%v): picture at %v, %v off its centre; want the key frame on it", w.Seq, w.PTSStart, w.PTSEnd, w.FramePTS, off)
		}
	}
	// The first two GOPs are decoded in full (the probe that key frames
	// are intra pictures); after that one packet a window: the key frame
	// alone.
	if n := c.source.Stats().VideoPacketsDecoded; n > 2*25+uint64(len(c.snapshot()))+2 {
		t.Errorf("%d video packets decoded for %d windows: more than the probe and a key frame each", n, len(c.snapshot()))
	}
}

// TestLivePacketsCountedWhileTheSessionRuns: a live session lasts for
// hours, so its counters must move while it runs, not when it ends.
func TestLivePacketsCountedWhileTheSessionRuns(t *testing.T) {
	dir := t.TempDir()
	// Long enough that the session still runs after three windows, with
	// the grid moved onto a key frame and a loaded machine.
	clip := liveClip(t, dir, "a.ts", 20, 0, true, true)
	port := testmedia.FreeUDPPort(t)
	c := newCollector(t, capture.Config{Name: "udp", Input: fmt.Sprintf("udp://127.0.0.1:%d", port)}, 2*time.Second, 2*time.Second)
	runLive(t, c)
	s := sendTS(t, port, clip)
	waittest.For(t, "a window", 20*time.Second, func() bool { return len(c.snapshot()) >= 1 })
	first := c.source.Stats().Packets
	waittest.For(t, "more windows", 20*time.Second, func() bool { return len(c.snapshot()) >= 3 })
	st := c.source.Stats()
	select {
	case <-s.done:
		t.Fatal("the sender ended before the counters were read: the test needs a session still running")
	default:
	}
	if st.Reconnects != 0 || st.Stalls != 0 {
		t.Fatalf("the first session ended (%+v): the test needs it running", st)
	}
	// 25 fps video and 48 kHz AAC (about 47 packets a second) for the 2 s
	// between the windows at least.
	if first == 0 || st.Packets < first+100 {
		t.Errorf("packets counted while the session runs: %d after the first window, %d two windows later; want them counted as they come", first, st.Packets)
	}
}

// TestLiveUDPSenderRestartsFromZero: an encoder restarts its timestamps
// from 0 after a pause, without the connection dropping (the stall timeout
// is longer than the pause). The media after the restart is placed at its
// arrival and keeps its sound; nothing is lost silently.
func TestLiveUDPSenderRestartsFromZero(t *testing.T) {
	dir := t.TempDir()
	late := liveClip(t, dir, "late.ts", 6, 30, true, true)  // timestamps from 31.4 s
	early := liveClip(t, dir, "early.ts", 6, 0, true, true) // from 1.4 s
	port := testmedia.FreeUDPPort(t)
	c := newCollector(t, capture.Config{Name: "udp", Input: fmt.Sprintf("udp://127.0.0.1:%d", port), StallTimeout: 10 * time.Second},
		2*time.Second, 2*time.Second)
	runLive(t, c)
	first := sendTS(t, port, late)
	<-first.done
	waittest.For(t, "windows from the first sender", 20*time.Second, func() bool { return len(c.snapshot()) >= 2 })
	for time.Since(first.ended) < 2*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	second := sendTS(t, port, early)
	<-second.done
	waittest.For(t, "windows after the restart", 30*time.Second, func() bool { return len(c.snapshot()) >= 5 })
	// The pause is on the timeline, where it happened: less the 0.7 s the
	// MPEG-TS muxer sends ahead of its clock, plus ffmpeg's start-up. Up to
	// a window of it is filled with silence; a longer one (a sender slow
	// to start under load) is reported as a gap and skipped. Either way
	// its length is accounted for.
	pause := second.started.Sub(first.ended)
	filled := time.Duration(c.cutter.Stats().SilenceFilled) * time.Second / 16000
	c.mu.Lock()
	var skipped time.Duration
	for _, g := range c.gaps {
		skipped += g[1] - g[0]
	}
	c.mu.Unlock()
	if onTimeline := filled + skipped; onTimeline < pause-time.Second || onTimeline > pause+2*time.Second {
		t.Errorf("a pause of %v left %v of silence and %v of reported gaps", pause.Round(time.Millisecond), filled, skipped)
	}
	if st := c.source.Stats(); st.Discontinuities[capture.JumpBackward] != 1 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want one backward jump, no reconnect", st)
	}
	ws := c.snapshot()
	c.mu.Lock()
	cuts := c.cutAt
	c.mu.Unlock()
	for i, w := range ws {
		checkLiveWindow(t, w, cuts[i], 2*time.Second)
		if i > 0 && w.PTSStart < ws[i-1].PTSEnd {
			t.Errorf("window %d starts at %v, before window %d ends at %v", w.Seq, w.PTSStart, ws[i-1].Seq, ws[i-1].PTSEnd)
		}
	}
	if last := ws[len(ws)-1]; math.Abs(last.RMSDBFS-sineDBFS) > 1 {
		t.Errorf("the last window after the restart: %.1f dBFS, want the sine's %.1f", last.RMSDBFS, sineDBFS)
	}
}

// TestLiveUDPOpenIsNotAStall: the audio PID of a live MPEG-TS has stopped
// (its PMT still lists it), so FFmpeg probes for its full analyzeduration
// (5 s) before the first packet. That is bounded by OpenTimeout, not by the
// 2 s stall timeout, which used to declare a stall during every probe and
// reconnect forever. The stream runs, its windows silent.
func TestLiveUDPOpenIsNotAStall(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "mute.ts", testmedia.Args(testmedia.TestPattern(320, 240, 25, 40),
		testmedia.Sine(0.5, 440, 48000, 2, 1), []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "mpegts"})...)
	port := testmedia.FreeUDPPort(t)
	s := sendTS(t, port, clip)
	c := newCollector(t, capture.Config{Name: "mute", Input: fmt.Sprintf("udp://127.0.0.1:%d", port), StallTimeout: 2 * time.Second},
		2*time.Second, 2*time.Second)
	// Open once the audio has stopped.
	for time.Since(s.started) < 2*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	runLive(t, c)
	waittest.For(t, "windows", 30*time.Second, func() bool { return len(c.snapshot()) >= 2 })
	c.mu.Lock()
	errs := fmt.Sprint(c.errors)
	c.mu.Unlock()
	if strings.Contains(errs, "no media came") {
		t.Errorf("the probe was taken for a stall: %s (stats %+v)", errs, c.source.Stats())
	}
	for _, w := range c.snapshot() {
		if w.RMSDBFS != windowing.MinDBFS {
			t.Errorf("window %d: %.1f dBFS from an input without sound", w.Seq, w.RMSDBFS)
		}
	}
}

// TestLiveStallMessages: the errors name the input and the bound, and say
// whether media never came or stopped; a one-shot command fails with it.
func TestLiveStallMessages(t *testing.T) {
	port := testmedia.FreeUDPPort(t)
	input := fmt.Sprintf("udp://127.0.0.1:%d", port)
	c := newCollector(t, capture.Config{Name: "none", Input: input, OpenTimeout: time.Second, FailFast: true}, time.Second, time.Second)
	err := c.run(t, time.Minute)
	if err == nil {
		t.Fatal("Run succeeded on a port nobody sends to")
	}
	for _, want := range []string{input, "1s", "no media came"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := c.source.Status(); st.State != capture.StateStopped || st.LastError != err.Error() {
		t.Errorf("status %+v, want stopped with %q", st, err)
	}
}

// TestCleanCancelIsNoError: after Ctrl-C the stream is stopped with no
// error, whatever its inputs met before: here an HTTP input that ended,
// was reopened twice, and is failing when the cancel comes (its "ended"
// used to stay in the stopped status). HTTP inputs count as live and
// reopen at EOF, and time runs on across the reopens.
func TestCleanCancelIsNoError(t *testing.T) {
	dir := t.TempDir()
	clip := readFile(t, liveClip(t, dir, "h.ts", 2, 0, true, true))
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if requests.Add(1) > 3 {
			http.Error(w, "camera rebooting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(clip)
	}))
	t.Cleanup(srv.Close)
	c := newCollector(t, capture.Config{Name: "http", Input: srv.URL + "/h.ts", BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		time.Second, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.source.Run(ctx) }()
	waittest.For(t, "the input to fail after three clips", time.Minute, func() bool {
		st := c.source.Status()
		return requests.Load() > 3 && st.State == capture.StateReconnecting && st.LastError != ""
	})
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after a cancel: %v", err)
	}
	if st := c.source.Status(); st.State != capture.StateStopped || st.LastError != "" {
		t.Errorf("status after a cancel: %+v, want stopped without an error", st)
	}
	ws := c.snapshot()
	if len(ws) < 4 {
		t.Fatalf("%d windows from three 2 s clips", len(ws))
	}
	for i := 1; i < len(ws); i++ {
		if ws[i].PTSStart < ws[i-1].PTSEnd {
			t.Errorf("window %d at %v after window %d at %v: time ran back across a reopen", ws[i].Seq, ws[i].PTSStart, ws[i-1].Seq, ws[i-1].PTSStart)
		}
	}
	if n := c.source.Stats().Discontinuities[capture.JumpReopen]; n != 2 {
		t.Errorf("%d reopens counted, want 2", n)
	}
}

// TestServiceRetriesWhatOneShotCommandsReject: a camera still booting
// serves no audio track at first. As a service the input is retried, the
// reason in its state, until it does; a one-shot command fails at once.
func TestServiceRetriesWhatOneShotCommandsReject(t *testing.T) {
	dir := t.TempDir()
	silent := readFile(t, liveClip(t, dir, "v.ts", 2, 0, true, false))
	full := readFile(t, liveClip(t, dir, "av.ts", 2, 0, true, true))
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if requests.Add(1) <= 2 {
			_, _ = w.Write(silent)
			return
		}
		_, _ = w.Write(full)
	}))
	t.Cleanup(srv.Close)
	cfg := capture.Config{Name: "boot", Input: srv.URL + "/cam.ts", BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond}

	oneShot := newCollector(t, cfg, time.Second, time.Second)
	if err := oneShot.run(t, time.Minute); !errors.Is(err, capture.ErrNoAudio) {
		t.Fatalf("one-shot: %v, want ErrNoAudio", err)
	}

	cfg.Service = true
	c := newCollector(t, cfg, time.Second, time.Second)
	ctx := stopAfterWindows(t, c, 2)
	if err := c.source.Run(ctx); err != nil {
		t.Fatalf("service: %v", err)
	}
	c.mu.Lock()
	errs := fmt.Sprint(c.errors)
	c.mu.Unlock()
	if !strings.Contains(errs, "no audio stream") {
		t.Errorf("the state never said why it was retrying: %s", errs)
	}
	if n := c.source.Stats().Reconnects; n < 1 {
		t.Errorf("%d reconnects", n)
	}
}

// TestReconnectsDoNotLeak serves a short MPEG-TS over TCP and closes the
// connection, 60 times; the Source reconnects after each EOF. Resident
// memory, which counts FFmpeg's C allocations too, must stay flat between
// cycle 10 and cycle 60.
func TestReconnectsDoNotLeak(t *testing.T) {
	dir := t.TempDir()
	ts := testmedia.File(t, dir, "clip.ts", testmedia.Args(testmedia.TestPattern(640, 360, 25, 1),
		testmedia.Sine(0.5, 440, 48000, 2, 1),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-f", "mpegts"})...)
	clip, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write(clip)
			_ = conn.Close()
			served.Add(1)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })

	c := newCollector(t, capture.Config{
		Name: "tcp", Input: "tcp://" + ln.Addr().String(),
		StallTimeout: 2 * time.Second, BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond,
	}, time.Second, time.Second)
	c.discard = true // the windows themselves would grow the heap
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- c.source.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runErr })

	waittest.For(t, "10 reconnects", time.Minute, func() bool { return c.source.Stats().Reconnects >= 10 })
	before := rss(t)
	waittest.For(t, "60 reconnects", 3*time.Minute, func() bool { return c.source.Stats().Reconnects >= 60 })
	after := rss(t)
	c.mu.Lock()
	windows := c.count
	c.mu.Unlock()
	t.Logf("RSS after 10 reconnects %d KiB, after 60 %d KiB; %d connections served, %d windows", before, after, served.Load(), windows)
	if grow := after - before; grow > 12*1024 {
		t.Errorf("RSS grew %d KiB over 50 reconnects: FFmpeg memory leaks across reconnects", grow)
	}
	if windows < 50 {
		t.Errorf("%d windows from 60 served one-second clips", windows)
	}
}

// rss returns the resident set size in KiB after a GC, so Go's own garbage
// does not blur what FFmpeg holds.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// freeUDPPorts returns the first of n consecutive free UDP ports, even, as
// RTP wants (RTCP goes to the port after each).
func freeUDPPorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		base := 20000 + 2*rand.IntN(10000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			_ = c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free UDP ports")
	return 0
}

// TestRTCPSenderClockAnchorsWallTimes: an RTP camera whose clock is 10 s
// behind this machine's (faketime) says in its RTCP sender reports when it
// captured its media. Once FFmpeg has read one (start_time_realtime),
// windows carry the sender's capture time, 10 s before they arrived (give
// or take the second or two FFmpeg's RTCP stream sync may shift).
func TestRTCPSenderClockAnchorsWallTimes(t *testing.T) {
	dir := t.TempDir()
	base := freeUDPPorts(t, 4)
	sdp := filepath.Join(dir, "cam.sdp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "faketime", "-f", "-10s", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=30", "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=30",
		"-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d", base),
		"-map", "1:a", "-c:a", "aac", "-f", "rtp", fmt.Sprintf("rtp://127.0.0.1:%d", base+2), "-sdp_file", sdp)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	waittest.For(t, "the session description", 20*time.Second, func() bool { _, err := os.Stat(sdp); return err == nil })
	c := newCollector(t, capture.Config{Name: "rtp", Input: sdp, InputOptions: map[string]string{"protocol_whitelist": "file,udp,rtp"}},
		2*time.Second, 2*time.Second)
	runLive(t, c)
	waittest.For(t, "ten windows", time.Minute, func() bool { return len(c.snapshot()) >= 10 })
	c.mu.Lock()
	defer c.mu.Unlock()
	// The first sender report comes with the first packet or 5 s later;
	// by the ninth window the anchor is the sender's.
	for i := 8; i < 10; i++ {
		w := c.windows[i]
		late := c.cutAt[i].Sub(w.WallEnd)
		t.Logf("window %d was cut %v after its wall-clock end", w.Seq, late.Round(time.Millisecond))
		if late < 7*time.Second || late > 13*time.Second {
			t.Errorf("window %d was cut %v after its wall-clock end; the sender's clock says about 10 s", w.Seq, late.Round(time.Millisecond))
		}
		if !strings.Contains(w.WallEnd.String(), "m=") {
			t.Errorf("window %d's wall-clock end %v lost its monotonic reading", w.Seq, w.WallEnd)
		}
	}
}
