package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/notifytest"
	"github.com/garssl/garssld/internal/waittest"
)

// A reload that replaces the scheduler while a window is at a slow model:
// the old scheduler drains for longer than the watchdog lets a loop go
// without a beat, and that is no hang. /healthz stays alive, the pings
// go on, and nothing is withheld.
func TestReloadWhileTheOldSchedulerDrainsStaysAlive(t *testing.T) {
	// A loop silent for half the watchdog interval is hung, and pings go
	// every half interval (sdnotify.Watchdog). 10 s leaves a busy loop of
	// a loaded machine seconds of slack. The window at the model is cut
	// by window_deadline, not by the model: omnisim is far slower, so the
	// old scheduler drains for about windowDeadline, well past the
	// allowance plus a ping period that the test needs.
	const (
		watchdog       = 10 * time.Second
		allowance      = watchdog / 2
		pingEvery      = watchdog / 2
		windowDeadline = 20 * time.Second
	)
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 12) // a window takes longer than windowDeadline
	var mu sync.Mutex
	var scheds []*task
	systemd := &fakeSystemd{watchdog: watchdog}
	base := setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), shutdownTimeout: "60s", maxQueue: 4,
		mllmTimeout: (windowDeadline + 5*time.Second).String(), windowDeadline: windowDeadline.String(), staleAfter: "60s"}
	stream := streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}
	r := startDaemon(t, configText(base, stream), systemd, testHooks{
		onTask: func(tk *task) {
			if tk.name == "scheduler" {
				mu.Lock()
				scheds = append(scheds, tk)
				mu.Unlock()
			}
		},
	})
	waittest.For(t, "a window at the model", 60*time.Second, func() bool { return len(r.logs.lines("window started")) > 0 })
	next := base
	next.maxInFlight = 2 // a new model client and scheduler
	r.reload(t, configText(next, stream))
	reloaded := time.Now()
	mu.Lock()
	if len(scheds) != 2 {
		t.Fatalf("%d schedulers started, want the first and its replacement", len(scheds))
	}
	old := scheds[0]
	mu.Unlock()
	// One loop per name in /healthz: the old scheduler's heartbeat ended
	// before its successor's began, which keeps the name.
	if name := scheds[1].beat.shownName(); name != "scheduler" {
		t.Errorf("the new scheduler's heartbeat is %q, want scheduler", name)
	}
	pings := systemd.count("WATCHDOG=1")
	var drainedFor time.Duration
	waittest.For(t, "the old scheduler to finish its window", 90*time.Second, func() bool {
		if code, l := r.liveness(t); code != 200 {
			t.Fatalf("/healthz while the old scheduler drains: %d %v", code, l.Hung)
		}
		ended, _ := old.ended()
		drainedFor = time.Since(reloaded)
		return ended
	})
	// The test means something only if the drain outlasted a silent
	// loop's allowance plus a ping period: a heartbeat left registered
	// would then have failed /healthz and withheld a ping.
	t.Logf("the old scheduler drained for %s", drainedFor)
	if drainedFor < allowance+pingEvery {
		t.Fatalf("the old scheduler drained in %s, want over %s; the model must be slower for this test", drainedFor, allowance+pingEvery)
	}
	if n := systemd.count("WATCHDOG=1"); n <= pings {
		t.Errorf("no watchdog ping while the old scheduler drained for %s", drainedFor)
	}
	if l := r.logs.lines("withholding systemd watchdog pings"); len(l) != 0 {
		t.Errorf("pings withheld during the drain: %v", l)
	}
}

// A stop while a window is at a slow model: STOPPING=1, then
// EXTEND_TIMEOUT_USEC every third of the extension while the stop drains,
// so that the unit's TimeoutStopSec does not cut shutdown_timeout short.
func TestStopAsksSystemdForTimeWhileItDrains(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 4)
	// After the broker started: mosquitto would send its own READY=1.
	notes := notifytest.Listen(t)
	const extendBy = 1500 * time.Millisecond
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), shutdownTimeout: "60s", maxQueue: 4},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), &fakeSystemd{forward: true}, testHooks{extendBy: extendBy})
	waittest.For(t, "a window at the model", 60*time.Second, func() bool { return len(r.logs.lines("window started")) > 0 })
	r.signals <- syscall.SIGTERM

	var msgs []string
	extensions := 0
	for extensions < 3 {
		m := notes.Next(t)
		msgs = append(msgs, m)
		if usec, ok := strings.CutPrefix(m, "EXTEND_TIMEOUT_USEC="); ok {
			extensions++
			if v, err := strconv.ParseInt(usec, 10, 64); err != nil || v <= 0 || v > extendBy.Microseconds() {
				t.Errorf("%q: want a positive extension of %s at most", m, extendBy)
			}
		}
	}
	select {
	case err := <-r.done:
		r.done = nil
		t.Fatalf("Run returned (%v) before three extensions came: the drain was too short to tell", err)
	default: // still draining: the extensions came during the drain
	}
	stopping := -1
	for i, m := range msgs {
		switch {
		case strings.HasPrefix(m, "STOPPING=1"):
			stopping = i
		case strings.HasPrefix(m, "EXTEND_TIMEOUT_USEC=") && stopping < 0:
			t.Errorf("EXTEND_TIMEOUT_USEC before STOPPING=1: %q", msgs)
		}
	}
	if stopping < 0 {
		t.Errorf("no STOPPING=1: %q", msgs)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

// blockedOpeningAFIFO reports whether a thread of this process waits in
// open(2) for a FIFO's writer.
func blockedOpeningAFIFO(t testing.TB) bool {
	t.Helper()
	chans, err := filepath.Glob("/proc/self/task/*/wchan")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		if b, err := os.ReadFile(c); err == nil && string(b) == "wait_for_partner" {
			return true
		}
	}
	return false
}

// daemonStuckOnAFIFO runs a daemon whose one stream, "stuck", reads a FIFO
// nobody writes to, and returns once its capture blocks opening it.
func daemonStuckOnAFIFO(t *testing.T) (*running, *mosquittotest.Broker) {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "stuck", input: "async:" + fifo}), nil, testHooks{})
	t.Cleanup(func() {
		// Release the abandoned open, so that its goroutine ends before
		// goleak looks: a writer that comes and goes is EOF.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
	})
	waittest.For(t, "the capture to block opening the FIFO", 30*time.Second, func() bool { return blockedOpeningAFIFO(t) })
	return r, b
}

// A FIFO nobody writes to that reaches FFmpeg anyway (here through its
// async: protocol, which `check` leaves to FFmpeg) blocks the capture in
// open(2), where no context reaches. SIGTERM still stops the daemon within
// the unit's TimeoutStopSec: the supervisor abandons the stuck session
// after captureStopLimit, and says so.
func TestStopAbandonsACaptureStuckOnAFIFO(t *testing.T) {
	r, _ := daemonStuckOnAFIFO(t)
	if code, l := r.liveness(t); code != 200 {
		t.Errorf("/healthz while the stream connects: %d %v", code, l.Hung)
	}
	began := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// The shipped unit's TimeoutStopSec.
	took := time.Since(began)
	t.Logf("stopped in %s", took)
	if took > 30*time.Second {
		t.Errorf("the stop took %s, past TimeoutStopSec=30s", took)
	}
	lines := r.logs.lines("the capture did not stop; abandoning it")
	if len(lines) != 1 || lines[0]["stream"] != "stuck" {
		t.Errorf("abandonment logged %d times: %v", len(lines), lines)
	}
	if !blockedOpeningAFIFO(t) {
		t.Error("nothing is blocked on the FIFO any more: the test did not test an abandoned capture")
	}
}

// A stream whose capture was abandoned, blocked on a FIFO, is not opened
// again while that call still blocks: pausing and resuming it cannot pile
// up stuck threads. The resume leaves the stream stopped, saying why.
func TestResumeDoesNotReopenAnInputStillBlocked(t *testing.T) {
	r, b := daemonStuckOnAFIFO(t)
	c := commander(t, b)
	waitTokens(t, sendCommands(t, c, "stuck", false))
	waittest.For(t, "the stuck capture abandoned", 60*time.Second, func() bool {
		return len(r.logs.lines("the capture did not stop; abandoning it")) == 1
	})
	waitTokens(t, sendCommands(t, c, "stuck", true))
	waittest.For(t, "the resumed stream stopped with a reason", 30*time.Second, func() bool {
		st, _ := streamState(r, "stuck")
		return st == "stopped" && len(r.logs.lines("cannot capture the stream")) == 1
	})
	if _, opened := streamState(r, "stuck"); opened != 1 {
		t.Errorf("the input was opened %d times, want 1: a resume opened it again while the first open still blocked", opened)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}
