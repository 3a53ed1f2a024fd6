package schedule_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/schedule"
)

// At shutdown, queued windows are dropped, a running window that finishes
// within the shutdown timeout is published, and no goroutine outlives Run.
func TestShutdownLetsRunningWindowsFinish(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 1, ShutdownTimeout: time.Minute}, loc, streamCfg("a", 2, time.Hour))
	now := time.Now()
	r.submit(t, window(t, "a", 1, now, false, false)) // runs
	loc.next(t)
	r.submit(t, window(t, "a", 2, now, false, false)) // queued

	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	waittest.For(t, "queued window dropped", 20*time.Second, func() bool { return r.obs.drops("a", schedule.DropShutdown) == 1 })
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a window was running inside the shutdown timeout", err)
	default:
	}
	loc.finishOne(t)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := r.pub.seqs("a"); len(got) != 1 || got[0] != 1 {
		t.Fatalf("published %v, want the running window 1", got)
	}
	// Nothing is taken once Run has ended, and it is all counted.
	if err := r.s.Submit(window(t, "a", 3, now, false, false)); !errors.Is(err, schedule.ErrStopped) {
		t.Fatalf("Submit after Run: %v, want ErrStopped", err)
	}
	if err := r.s.Add(streamCfg("b", 1, time.Second)); !errors.Is(err, schedule.ErrStopped) {
		t.Fatalf("Add after Run: %v, want ErrStopped", err)
	}
	if !r.accounted("a", 3) {
		t.Fatalf("not every window accounted for: done %v, dropped %v", r.obs.done, r.obs.dropped)
	}
}

// Past the shutdown timeout, running windows are cancelled, counted, not
// published, and Run still waits for their goroutines.
func TestShutdownTimeoutCancelsRunningWindows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	loc := newFakeLocalizer() // returns only when released or cancelled
	r := startRig(t, schedule.Config{MaxWindows: 2, ShutdownTimeout: 100 * time.Millisecond}, loc,
		streamCfg("a", 2, time.Hour), streamCfg("b", 2, time.Hour))
	now := time.Now()
	r.submit(t, window(t, "a", 1, now, false, false))
	r.submit(t, window(t, "b", 1, now, false, false))
	loc.next(t)
	loc.next(t)
	began := time.Now()
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took < 100*time.Millisecond {
		t.Fatalf("Run returned after %s, before the shutdown timeout", took)
	}
	for _, s := range []string{"a", "b"} {
		if got := r.obs.drops(s, schedule.DropShutdown); got != 1 {
			t.Fatalf("stream %s: shutdown drops = %d, want 1", s, got)
		}
	}
	if n := len(r.pub.all()); n != 0 {
		t.Fatalf("%d cancelled windows published", n)
	}
	loc.mu.Lock()
	defer loc.mu.Unlock()
	if loc.inFlight != 0 {
		t.Fatalf("%d Localize calls still running after Run returned", loc.inFlight)
	}
}
