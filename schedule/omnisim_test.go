package schedule_test

// The scheduler in front of the real GAR loop and model client, talking
// HTTP to omnisim on 127.0.0.1. omnisim's latency model sleeps in real time
// (scaled by TimeScale), so these tests see a model of known slowness; the
// assertions are about shares and bounds, never about exact timings.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/schedule"
)

// checkAccounts asserts that every window of each stream was published or
// dropped for one of the allowed reasons, and that no dropped window ever
// reached the model.
func checkAccounts(t *testing.T, r *rig, s *sim, submitted map[string]int, allowed ...string) {
	t.Helper()
	for stream, n := range submitted {
		waittest.For(t, "stream "+stream+" accounted for", 60*time.Second, func() bool { return r.accounted(stream, n) })
		r.obs.mu.Lock()
		for reason, c := range r.obs.dropped[stream] {
			if !contains(allowed, reason) {
				t.Errorf("stream %s: %d windows dropped for %q; only %v expected", stream, c, reason, allowed)
			}
		}
		r.obs.mu.Unlock()
	}
	windows := map[string]bool{} // <stream>/<seq> of every window the model saw
	for _, id := range s.requestIDs() {
		parts := strings.Split(id, "/")
		windows[parts[1]+"/"+parts[2]] = true
	}
	for _, d := range r.pub.all() {
		delete(windows, fmt.Sprintf("%s/%d", d.Stream, d.Seq))
	}
	if len(windows) > 0 {
		t.Errorf("windows reached the model but were not published: %v", windows)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Two streams offer twice what the model can serve: each gets 40–60 % of
// the windows that are analysed.
func TestTwoStreamsShareAHalfSpeedModelEvenly(t *testing.T) {
	s := startSim(t, 0.1) // a window takes ≈ 0.17 s alone, ≈ 0.1 s each two at a time
	loc, _ := newGAR(t, s, 2)
	r := startRig(t, schedule.Config{MaxWindows: 2}, loc, streamCfg("a", 2, 30*time.Second), streamCfg("b", 2, 30*time.Second))

	// Each stream alone offers about what the model serves. The streams
	// are fed until the model has analysed enough windows for shares to
	// mean something, however loaded the machine is.
	const interval = 110 * time.Millisecond
	const enough, most = 30, 400
	var wg sync.WaitGroup
	submitted := map[string]int{}
	var mu sync.Mutex
	for _, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := feedWhile(t, r, name, interval, func(n int) bool { return n < most && len(r.pub.all()) < enough })
			mu.Lock()
			submitted[name] = n
			mu.Unlock()
		}()
	}
	wg.Wait()
	checkAccounts(t, r, s, submitted, schedule.DropQueueFull, schedule.DropSuperseded, schedule.DropTooLate)
	if submitted["a"] == most || submitted["b"] == most {
		t.Fatalf("the model analysed only %d windows of %d submitted", len(r.pub.all()), submitted["a"]+submitted["b"])
	}

	a, b := r.pub.count("a"), r.pub.count("b")
	total := a + b
	all := submitted["a"] + submitted["b"]
	t.Logf("analysed a=%d b=%d of %d submitted; drops a=%v b=%v", a, b, all, r.obs.dropped["a"], r.obs.dropped["b"])
	if total > all*3/4 {
		t.Fatalf("the model analysed %d of %d windows: it was not the bottleneck, so the test shows nothing", total, all)
	}
	for name, n := range map[string]int{"a": a, "b": b} {
		if share := float64(n) / float64(total); share < 0.4 || share > 0.6 {
			t.Errorf("stream %s got %.0f %% of the analysed windows (%d of %d), want 40–60 %%", name, 100*share, n, total)
		}
	}
	for _, d := range r.pub.all() {
		if d.Status != gar.StatusOK {
			t.Errorf("%s/%d: status %s", d.Stream, d.Seq, d.Status)
		}
	}
}

// A stream submitting ten times as often as another does not starve it: the
// quiet stream gets all its windows analysed, or half of what the model
// served if it asks for more than that (a loaded machine slows the model).
func TestFloodingStreamDoesNotStarveAnother(t *testing.T) {
	s := startSim(t, 0.1)
	loc, _ := newGAR(t, s, 2)
	// The flooding stream is added first, so it is first in the ring.
	r := startRig(t, schedule.Config{MaxWindows: 2}, loc, streamCfg("flood", 2, 30*time.Second), streamCfg("quiet", 2, 30*time.Second))

	const quietWindows = 10
	const quietInterval = 400 * time.Millisecond
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); feed(t, r, "quiet", quietWindows, quietInterval) }()
	go func() { defer wg.Done(); feed(t, r, "flood", 10*quietWindows, quietInterval/10) }()
	wg.Wait()
	checkAccounts(t, r, s, map[string]int{"flood": 10 * quietWindows, "quiet": quietWindows}, schedule.DropQueueFull, schedule.DropSuperseded, schedule.DropTooLate)

	quiet, flood := r.pub.count("quiet"), r.pub.count("flood")
	t.Logf("analysed quiet=%d of %d, flood=%d of %d", quiet, quietWindows, flood, 10*quietWindows)
	if fair := min(quietWindows, (quiet+flood)/2); quiet < fair*8/10 {
		t.Fatalf("quiet stream: %d windows analysed, want at least 80 %% of %d (all its own, or half the model's)", quiet, fair)
	}
	if flood == 0 || r.obs.drops("flood", schedule.DropQueueFull) == 0 {
		t.Fatalf("flooding stream: %d analysed, %d dropped: the model was not saturated", flood, r.obs.drops("flood", schedule.DropQueueFull))
	}
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	if m := r.obs.maxDep["flood"]; m > 2 {
		t.Fatalf("flooding stream's queue reached %d, above max_queue 2", m)
	}
}

// With a model slower than stale_after, nothing is published: every window
// is cut at its stale deadline (not at window_deadline), counted stale, and
// its requests are abandoned on the server. When window_deadline is the
// shorter, the window is published as mllm_unavailable, fresh.
func TestNoResultIsPublishedStalerThanStaleAfter(t *testing.T) {
	s := startSim(t, 3) // a window takes ≈ 5 s

	// Each case has its own client: the first one's deadline-cut attempts
	// count as timeouts and open its breaker, which would answer the second
	// case's window at once.
	t.Run("stale deadline", func(t *testing.T) {
		loc, _ := newGAR(t, s, 4)
		const staleAfter = time.Second
		r := startRig(t, schedule.Config{MaxWindows: 4, WindowDeadline: 30 * time.Second}, loc, streamCfg("a", 4, staleAfter))
		for seq := uint64(1); seq <= 3; seq++ {
			r.submit(t, window(t, "a", seq, time.Now(), false, true))
		}
		waittest.For(t, "three stale drops", 60*time.Second, func() bool { return r.obs.drops("a", schedule.DropStale) == 3 })
		if n := len(r.pub.all()); n != 0 {
			t.Fatalf("%d stale results published", n)
		}
		// Cut at the stale deadline (1 s), not at window_deadline: no window
		// got as far as an answered analysis (≈ 1.1 s + 1.7 s in), however
		// slow the machine, and the server saw its clients go away.
		for seq := uint64(1); seq <= 3; seq++ {
			if n := s.answeredFor("a", seq, "analysis"); n != 0 {
				t.Fatalf("window a/%d got %d analysis answers: it ran past its stale deadline", seq, n)
			}
		}
		waittest.For(t, "omnisim to see its clients go away", 30*time.Second, func() bool { return s.Stats().Cancelled > 0 })
	})

	t.Run("window_deadline shorter", func(t *testing.T) {
		loc, _ := newGAR(t, s, 4)
		const staleAfter = 10 * time.Second
		r := startRig(t, schedule.Config{MaxWindows: 4, WindowDeadline: 300 * time.Millisecond}, loc, streamCfg("b", 4, staleAfter))
		r.submit(t, window(t, "b", 1, time.Now(), false, true))
		waittest.For(t, "window published", 60*time.Second, func() bool { return r.pub.count("b") == 1 })
		d := r.pub.find("b", 1)
		if d.Status != gar.StatusMLLMUnavailable {
			t.Fatalf("status %s, want mllm_unavailable", d.Status)
		}
		if age := time.Duration(d.LatencyMS.AgeAtPublish) * time.Millisecond; age < 300*time.Millisecond || age > staleAfter {
			t.Fatalf("age_at_publish %s, want between window_deadline 300ms and stale_after %s", age, staleAfter)
		}
	})
}

// Silent windows are published as silent and none of their requests reach
// the model.
func TestSilentWindowsNeverReachTheModel(t *testing.T) {
	s := startSim(t, 0)
	loc, _ := newGAR(t, s, 4)
	r := startRig(t, schedule.Config{MaxWindows: 4, SilenceDBFS: -60}, loc, streamCfg("a", 10, 30*time.Second))
	const n = 10
	for seq := uint64(1); seq <= n; seq++ {
		r.submit(t, window(t, "a", seq, time.Now(), seq%2 == 0, true))
	}
	checkAccounts(t, r, s, map[string]int{"a": n})
	requests := 0
	for seq := uint64(1); seq <= n; seq++ {
		d := r.pub.find("a", seq)
		silent := seq%2 == 0
		sent := s.requestsFor("a", seq)
		switch {
		case d == nil:
			t.Fatalf("window %d not published", seq)
		case silent && (d.Status != gar.StatusSilent || sent != 0):
			t.Errorf("silent window %d: status %s, %d model requests; want silent and none", seq, d.Status, sent)
		case !silent && (d.Status != gar.StatusOK || sent == 0):
			t.Errorf("loud window %d: status %s, %d model requests; want ok and some", seq, d.Status, sent)
		}
		requests += d.GAR.Requests
	}
	if st := s.Stats(); int(st.Requests) != requests {
		t.Fatalf("omnisim answered %d requests, payloads account for %d", st.Requests, requests)
	}
}

// Removing a stream cancels its running window's requests on the server and
// publishes nothing for it; the other stream goes on. At shutdown, windows
// running past the timeout are cancelled, and no goroutine of the scheduler,
// the GAR loop or the model client outlives Run.
func TestRemoveAndShutdownMidFlightAgainstTheModel(t *testing.T) {
	s := startSim(t, 3) // a window takes ≈ 5 s
	// omnisim's server connections belong to httptest, closed at cleanup.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("net/http.(*conn).serve"))
	loc, client := newGAR(t, s, 4)
	r := startRig(t, schedule.Config{MaxWindows: 4, ShutdownTimeout: 200 * time.Millisecond}, loc,
		streamCfg("a", 2, 30*time.Second), streamCfg("b", 2, 30*time.Second))

	r.submit(t, window(t, "a", 1, time.Now(), false, true))
	r.submit(t, window(t, "b", 1, time.Now(), false, true))
	waittest.For(t, "a/1 on the model", 30*time.Second, func() bool { return s.requestsFor("a", 1) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.s.Remove(ctx, "a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// Remove returned without waiting for the window to run its course.
	if n := s.answeredFor("a", 1, "analysis"); n != 0 {
		t.Fatalf("a/1 got %d analysis answers: Remove let it run instead of cancelling it", n)
	}
	if got := r.obs.drops("a", schedule.DropRemoved); got != 1 {
		t.Fatalf("removed drops = %d, want 1", got)
	}
	waittest.For(t, "omnisim to see a/1's requests go away", 30*time.Second, func() bool { return s.Stats().Cancelled > 0 })
	waittest.For(t, "b/1 published", 60*time.Second, func() bool { return r.pub.count("b") == 1 })
	if r.pub.count("a") != 0 {
		t.Fatal("the removed stream's window was published")
	}

	// Shutdown with a window running: cut after the 200 ms timeout.
	r.submit(t, window(t, "b", 2, time.Now(), false, true))
	waittest.For(t, "b/2 on the model", 30*time.Second, func() bool { return s.requestsFor("b", 2) > 0 })
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := r.obs.drops("b", schedule.DropShutdown); got != 1 {
		t.Fatalf("shutdown drops = %d, want 1", got)
	}
	client.CloseIdleConnections()
}
