package schedule_test

// Pure policy, with a Localizer that holds each window until the test
// releases it and a clock the test moves: no model, no timing luck.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/schedule"
)

func TestNewestQueuedWindowStartsAndEveryDropIsCounted(t *testing.T) {
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, loc, streamCfg("a", 2, 10*time.Second))

	now := clock.Now()
	for seq := uint64(1); seq <= 6; seq++ {
		r.submit(t, window(t, "a", seq, now, false, false))
	}
	// Window 1 took the only slot; 2…6 went through a queue of 2, so the
	// newest two wait and the three before them were pushed out.
	if id := loc.next(t); id != "robot/a/1" {
		t.Fatalf("first window started: %s, want robot/a/1", id)
	}
	if got := r.obs.drops("a", schedule.DropQueueFull); got != 3 {
		t.Fatalf("queue_full drops = %d, want 3", got)
	}
	if got := r.obs.queueDepth("a"); got != 2 {
		t.Fatalf("queue depth = %d, want 2", got)
	}
	// Window 1 takes 4 s, the service estimate. The newest starts next
	// (6 s left); the one it overtook could not finish fresh after it (6 s
	// left, less than two estimates) and is superseded.
	clock.Advance(4 * time.Second)
	loc.finishOne(t)
	if id := loc.next(t); id != "robot/a/6" {
		t.Fatalf("window started after the first: %s, want robot/a/6", id)
	}
	loc.finishOne(t)
	waittest.For(t, "every window accounted for", 20*time.Second, func() bool { return r.accounted("a", 6) })
	if got, want := r.pub.seqs("a"), []uint64{1, 6}; !slices.Equal(got, want) {
		t.Fatalf("published seqs %v, want %v", got, want)
	}
	if got, sup := r.obs.totalDrops("a"), r.obs.drops("a", schedule.DropSuperseded); got != 4 || sup != 1 {
		t.Fatalf("drops %v, want 3 queue_full and 1 superseded", r.obs.dropped["a"])
	}
	loc.noneStarted(t)
	loc.mu.Lock()
	defer loc.mu.Unlock()
	if loc.maxInFl != 1 {
		t.Fatalf("%d windows ran at once with MaxWindows 1", loc.maxInFl)
	}
}

func TestStaleWindowsAreDroppedNotPublished(t *testing.T) {
	const staleAfter = 10 * time.Second
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, loc, streamCfg("a", 2, staleAfter), streamCfg("b", 2, staleAfter))

	// A window pushed out of a full queue when already stale is counted as
	// stale, not queue_full.
	now := clock.Now()
	r.submit(t, window(t, "a", 1, now, false, false)) // runs
	loc.next(t)
	r.submit(t, window(t, "a", 2, now.Add(-20*time.Second), false, false))
	r.submit(t, window(t, "a", 3, now, false, false))
	r.submit(t, window(t, "a", 4, now, false, false)) // pushes 2 out
	if got, full := r.obs.drops("a", schedule.DropStale), r.obs.drops("a", schedule.DropQueueFull); got != 1 || full != 0 {
		t.Fatalf("after pushing out a stale window: stale %d, queue_full %d; want 1 and 0", got, full)
	}
	// The model takes no time (the estimate is 0): the newest starts
	// first, and the older one, with time enough, after it.
	for _, want := range []string{"robot/a/4", "robot/a/3"} {
		loc.finishOne(t)
		if id := loc.next(t); id != want {
			t.Fatalf("started %s, want %s", id, want)
		}
	}
	loc.finishOne(t)
	waittest.For(t, "all accounted for", 20*time.Second, func() bool { return r.accounted("a", 4) })
	if got := r.pub.seqs("a"); !slices.Equal(got, []uint64{1, 3, 4}) {
		t.Fatalf("published %v, want [1 3 4]", got)
	}

	// b/1's result comes back 11 s after its window ended: never published;
	// the queued windows, as old, are dropped when the slot frees.
	t0 := clock.Now()
	r.submit(t, window(t, "b", 1, t0, false, false)) // runs
	loc.next(t)
	r.submit(t, window(t, "a", 5, t0.Add(-8*time.Second), false, false)) // queued
	r.submit(t, window(t, "b", 2, t0, false, false))                     // queued
	clock.Advance(11 * time.Second)
	loc.finishOne(t)
	waittest.For(t, "a and b accounted for", 20*time.Second, func() bool { return r.accounted("a", 5) && r.accounted("b", 2) })
	if n := r.pub.count("b"); n != 0 || r.pub.find("a", 5) != nil {
		t.Fatalf("windows published older than stale_after %s", staleAfter)
	}
	if a, b := r.obs.drops("a", schedule.DropStale), r.obs.drops("b", schedule.DropStale); a != 2 || b != 2 {
		t.Fatalf("stale drops a=%d b=%d, want 2 and 2", a, b)
	}
	loc.noneStarted(t)
}

// The deadline a window runs under is min(window_deadline, time left until
// it turns stale_after old).
func TestWindowDeadlineIsTheSmallerOfDeadlineAndTimeToStale(t *testing.T) {
	tests := []struct {
		name                       string
		windowDeadline, staleAfter time.Duration
		age                        time.Duration
		want                       time.Duration
	}{
		{"window_deadline binds", 30 * time.Second, 60 * time.Second, 20 * time.Second, 30 * time.Second},
		{"time to stale binds", 30 * time.Second, 60 * time.Second, 45 * time.Second, 15 * time.Second},
		{"short window_deadline binds", 5 * time.Second, 60 * time.Second, 45 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			loc := newFakeLocalizer()
			r := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock, WindowDeadline: tt.windowDeadline},
				loc, streamCfg("a", 2, tt.staleAfter))
			r.submit(t, window(t, "a", 1, clock.Now().Add(-tt.age), false, false))
			id := loc.next(t)
			loc.mu.Lock()
			left, ok := loc.deadlines[id]
			loc.mu.Unlock()
			// Time passes between setting the deadline and the Localizer
			// reading it; 4 s covers a loaded machine, and the upper bound
			// tells the cases apart.
			if !ok || left > tt.want || left < tt.want-4*time.Second {
				t.Fatalf("window ran with %s left (deadline set: %v), want just under %s", left, ok, tt.want)
			}
			loc.finishOne(t)
			waittest.For(t, "window published", 20*time.Second, func() bool { return r.pub.count("a") == 1 })
		})
	}
}

// A freed slot goes to the stream that started a window least recently,
// and it starts that stream's newest window. The model keeps up (the fake
// clock does not move: the estimate is 0), so the older windows follow.
func TestAdmissionTakesStreamsInTurnNewestFirst(t *testing.T) {
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, loc,
		streamCfg("a", 3, time.Hour), streamCfg("b", 3, time.Hour), streamCfg("c", 3, time.Hour))
	now := clock.Now()
	r.submit(t, window(t, "a", 1, now, false, false))
	if id := loc.next(t); id != "robot/a/1" {
		t.Fatalf("first start %s", id)
	}
	// Stream a has three windows waiting, b two and c one.
	for _, w := range []struct {
		stream string
		seq    uint64
	}{{"a", 2}, {"a", 3}, {"a", 4}, {"b", 1}, {"b", 2}, {"c", 1}} {
		r.submit(t, window(t, w.stream, w.seq, now, false, false))
	}
	var order []string
	for range 6 {
		loc.finishOne(t)
		order = append(order, strings.TrimPrefix(loc.next(t), "robot/"))
	}
	loc.finishOne(t)
	want := []string{"b/2", "c/1", "a/4", "b/1", "a/3", "a/2"}
	if !slices.Equal(order, want) {
		t.Fatalf("admission order %v, want %v", order, want)
	}
	waittest.For(t, "all published", 20*time.Second, func() bool { return len(r.pub.all()) == 7 })
	loc.noneStarted(t)
}

func TestSilentWindowsSkipTheQueueAndTheModel(t *testing.T) {
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock, SilenceDBFS: -60}, loc, streamCfg("a", 1, time.Hour))
	now := clock.Now()
	r.submit(t, window(t, "a", 1, now, false, false)) // holds the only slot
	loc.next(t)

	clock.Advance(250 * time.Millisecond)
	r.submit(t, window(t, "a", 2, now, true, false))
	// Published before Submit returned, although the slot is taken.
	d := r.pub.find("a", 2)
	if d == nil {
		t.Fatal("silent window not published at once")
	}
	if d.Status != gar.StatusSilent || len(d.Sources) != 0 || d.LatencyMS.AgeAtPublish != 250 {
		t.Fatalf("silent payload: status %s, %d sources, age %d ms; want silent, 0, 250", d.Status, len(d.Sources), d.LatencyMS.AgeAtPublish)
	}
	// A level exactly at the threshold is not below it: it waits for the model.
	at := window(t, "a", 3, now, false, false)
	at.RMSDBFS = -60
	r.submit(t, at)
	if r.pub.find("a", 3) != nil || r.obs.queueDepth("a") != 1 {
		t.Fatalf("window at the threshold: published %v, queue depth %d; want queued", r.pub.find("a", 3) != nil, r.obs.queueDepth("a"))
	}
	loc.finishOne(t)
	if id := loc.next(t); id != "robot/a/3" {
		t.Fatalf("next started %s", id)
	}
	loc.finishOne(t)
	waittest.For(t, "all accounted for", 20*time.Second, func() bool { return r.accounted("a", 3) })
	if slices.Contains(loc.callIDs(), "robot/a/2") {
		t.Fatal("silent window reached the model")
	}
	r.obs.mu.Lock()
	silent := r.obs.done["a"][string(gar.StatusSilent)]
	r.obs.mu.Unlock()
	if silent != 1 {
		t.Fatalf("WindowDone(silent) = %d, want 1", silent)
	}
}

func TestPauseDropsWaitingWindowsAndLetsTheRunningOneFinish(t *testing.T) {
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 2, Clock: clock}, loc, streamCfg("a", 2, time.Hour), streamCfg("b", 2, time.Hour))
	now := clock.Now()
	r.submit(t, window(t, "a", 1, now, false, false)) // runs
	r.submit(t, window(t, "a", 2, now, false, false)) // runs
	loc.next(t)
	loc.next(t)
	r.submit(t, window(t, "a", 3, now, false, false)) // queued
	if err := r.s.Pause("a"); err != nil {
		t.Fatal(err)
	}
	r.submit(t, window(t, "a", 4, now, false, false)) // refused while paused
	r.submit(t, window(t, "a", 5, now, true, false))  // silent ones too
	if got := r.obs.drops("a", schedule.DropPaused); got != 3 {
		t.Fatalf("paused drops = %d, want 3 (one queued, two submitted while paused)", got)
	}
	if got := r.obs.queueDepth("a"); got != 0 {
		t.Fatalf("queue depth while paused = %d", got)
	}
	// The running windows finish and are published, and the paused stream
	// does not take the freed slot: b does.
	r.submit(t, window(t, "b", 1, now, false, false))
	loc.finishOne(t)
	if id := loc.next(t); id != "robot/b/1" {
		t.Fatalf("freed slot went to %s, want robot/b/1", id)
	}
	loc.finishOne(t)
	loc.finishOne(t)
	waittest.For(t, "running windows published", 20*time.Second, func() bool { return r.pub.count("a") == 2 && r.pub.count("b") == 1 })
	if got := r.pub.seqs("a"); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("published %v, want the two that were running", got)
	}

	if err := r.s.Resume("a"); err != nil {
		t.Fatal(err)
	}
	r.submit(t, window(t, "a", 6, now, false, false))
	if id := loc.next(t); id != "robot/a/6" {
		t.Fatalf("after resume started %s", id)
	}
	loc.finishOne(t)
	waittest.For(t, "every window accounted for", 20*time.Second, func() bool { return r.accounted("a", 6) })
	loc.noneStarted(t)
}

func TestRemoveCancelsRunningWindowsAndPublishesNothingAfter(t *testing.T) {
	clock := newFakeClock()
	loc := newFakeLocalizer()
	r := startRig(t, schedule.Config{MaxWindows: 2, Clock: clock}, loc, streamCfg("a", 2, time.Hour), streamCfg("b", 2, time.Hour))
	now := clock.Now()
	r.submit(t, window(t, "a", 1, now, false, false)) // runs
	r.submit(t, window(t, "b", 1, now, false, false)) // runs
	loc.next(t)
	loc.next(t)
	r.submit(t, window(t, "a", 2, now, false, false)) // queued

	// The fake Localizer returns only when released or cancelled; Remove
	// returning at all proves the running window was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.s.Remove(ctx, "a"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := r.obs.drops("a", schedule.DropRemoved); got != 2 {
		t.Fatalf("removed drops = %d, want 2 (one running, one queued)", got)
	}
	if n := r.pub.count("a"); n != 0 {
		t.Fatalf("%d windows of the removed stream published", n)
	}
	if err := r.s.Submit(window(t, "a", 3, now, false, false)); !errors.Is(err, schedule.ErrUnknownStream) {
		t.Fatalf("Submit to a removed stream: %v, want ErrUnknownStream", err)
	}
	if got := r.obs.drops("a", schedule.DropRemoved); got != 3 {
		t.Fatalf("removed drops = %d, want 3 after a late submit", got)
	}
	for _, op := range []func() error{
		func() error { return r.s.Remove(ctx, "a") },
		func() error { return r.s.Pause("a") },
		func() error { return r.s.Resume("a") },
	} {
		if err := op(); !errors.Is(err, schedule.ErrUnknownStream) {
			t.Fatalf("operation on a removed stream: %v, want ErrUnknownStream", err)
		}
	}

	// The other stream is untouched, and the name can come back (a reload).
	loc.finishOne(t)
	waittest.For(t, "b/1 published", 20*time.Second, func() bool { return r.pub.count("b") == 1 })
	if err := r.s.Add(streamCfg("a", 2, time.Hour)); err != nil {
		t.Fatalf("re-Add: %v", err)
	}
	r.submit(t, window(t, "a", 1, now, false, false))
	if id := loc.next(t); id != "robot/a/1" {
		t.Fatalf("re-added stream started %s", id)
	}
	loc.finishOne(t)
	waittest.For(t, "re-added stream publishes", 20*time.Second, func() bool { return r.pub.count("a") == 1 })
}

func TestPingAnswersOnlyWhileRunning(t *testing.T) {
	s, err := schedule.New(schedule.Config{Node: testNode, RunID: testRunID, MaxWindows: 1, WindowDeadline: time.Second},
		newFakeLocalizer(), func(string, uint64, *gar.Detection) {})
	if err != nil {
		t.Fatal(err)
	}
	short := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		return s.Ping(ctx)
	}
	if err := short(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping before Run: %v, want a deadline error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waittest.For(t, "Ping answered", 20*time.Second, func() bool { return short() == nil })
	if err := s.Run(ctx); err == nil {
		t.Fatal("a second Run was accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := short(); err == nil {
		t.Fatal("Ping answered after Run returned")
	}
}

func TestConfigErrors(t *testing.T) {
	loc, pub := newFakeLocalizer(), func(string, uint64, *gar.Detection) {}
	good := schedule.Config{Node: "n", RunID: "r", MaxWindows: 1, WindowDeadline: time.Second}
	tests := []struct {
		name   string
		edit   func(*schedule.Config)
		noLoc  bool
		errSub string
	}{
		{"no node", func(c *schedule.Config) { c.Node = "" }, false, "node and run id"},
		{"no run id", func(c *schedule.Config) { c.RunID = "" }, false, "node and run id"},
		{"no slots", func(c *schedule.Config) { c.MaxWindows = 0 }, false, "MaxWindows 0 must be at least 1"},
		{"no deadline", func(c *schedule.Config) { c.WindowDeadline = 0 }, false, "window deadline 0s must be positive"},
		{"negative shutdown", func(c *schedule.Config) { c.ShutdownTimeout = -time.Second }, false, "shutdown timeout -1s"},
		{"no localizer", func(*schedule.Config) {}, true, "a localizer and a publish function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			var l schedule.Localizer = loc
			if tt.noLoc {
				l = nil
			}
			_, err := schedule.New(cfg, l, pub)
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.errSub)
			}
		})
	}

	s, err := schedule.New(good, loc, pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cfg    schedule.StreamConfig
		errSub string
	}{
		{schedule.StreamConfig{MaxQueue: 1, StaleAfter: time.Second}, "stream name is empty"},
		{schedule.StreamConfig{Name: "x", StaleAfter: time.Second}, `stream "x": max_queue 0 must be at least 1`},
		{schedule.StreamConfig{Name: "x", MaxQueue: 1}, `stream "x": stale_after 0s must be positive`},
		{schedule.StreamConfig{Name: "x", MaxQueue: 1, StaleAfter: time.Second, HFOVDeg: 180}, `stream "x": hfov_deg 180 must lie in [0, 180)`},
	} {
		if err := s.Add(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.errSub) {
			t.Errorf("Add(%+v): %v, want %q", tt.cfg, err, tt.errSub)
		}
	}
	if err := s.Add(streamCfg("x", 1, time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(streamCfg("x", 1, time.Second)); !errors.Is(err, schedule.ErrStreamExists) {
		t.Fatalf("duplicate Add: %v", err)
	}
}

// Windows submitted before Run wait in their queue and start with Run.
func TestWindowsWaitForRun(t *testing.T) {
	loc := newFakeLocalizer()
	obs := newObserver()
	pub := newPublished(t)
	s, err := schedule.New(schedule.Config{Node: testNode, RunID: testRunID, MaxWindows: 1, WindowDeadline: time.Minute, SilenceDBFS: -60, Observer: obs},
		loc, pub.publish)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(streamCfg("a", 2, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(window(t, "a", 1, time.Now(), false, false)); err != nil {
		t.Fatal(err)
	}
	loc.noneStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if id := loc.next(t); id != "robot/a/1" {
		t.Fatalf("started %s", id)
	}
	loc.finishOne(t)
	waittest.For(t, "published", 20*time.Second, func() bool { return pub.count("a") == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func ExampleScheduler() {
	loc := schedule.LocalizerFunc(func(context.Context, gar.Input) gar.Result { return okResult() })
	published := make(chan string, 1)
	s, err := schedule.New(schedule.Config{
		Node: "robot-7", RunID: "01JD", MaxWindows: 4, WindowDeadline: 30 * time.Second, SilenceDBFS: -60,
		ShutdownTimeout: 10 * time.Second,
	}, loc, func(stream string, seq uint64, d *gar.Detection) {
		published <- fmt.Sprintf("%s/%d %s", stream, seq, d.Status) // must not block
	})
	if err != nil {
		panic(err)
	}
	_ = s.Add(schedule.StreamConfig{Name: "front", MaxQueue: 2, StaleAfter: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	w := exampleWindow("front", 1)
	_ = s.Submit(w)
	fmt.Println(<-published)
	cancel()
	fmt.Println(<-done)
	// Output:
	// front/1 ok
	// <nil>
}

// A window cut by its freshness budget carries mllm.ErrFreshness as its
// context's cause, so that the model client does not hold the cut against
// the endpoint; one cut by window_deadline is a plain timeout.
func TestFreshnessCutCarriesErrFreshness(t *testing.T) {
	tests := []struct {
		name                       string
		windowDeadline, staleAfter time.Duration
		want                       error
	}{
		{"stale_after is nearer", time.Minute, 200 * time.Millisecond, mllm.ErrFreshness},
		{"window_deadline is nearer", 200 * time.Millisecond, time.Minute, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			causes := make(chan error, 1)
			loc := schedule.LocalizerFunc(func(ctx context.Context, _ gar.Input) gar.Result {
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return gar.Result{Status: gar.StatusMLLMUnavailable, Err: ctx.Err()}
			})
			r := startRig(t, schedule.Config{MaxWindows: 1, WindowDeadline: tt.windowDeadline}, loc, streamCfg("a", 1, tt.staleAfter))
			r.submit(t, window(t, "a", 1, time.Now(), false, false))
			select {
			case cause := <-causes:
				if cause != tt.want {
					t.Fatalf("cause %v, want %v", cause, tt.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the window was not cut")
			}
		})
	}
}

// TestHandoverKeepsQueuedWindowsAcrossAReplacement: a reload that replaces
// the scheduler moves the queued windows of the streams that go on to the
// new one, in seq order with what reached the new one meanwhile, under
// its bound; nothing is dropped as shutdown.
func TestHandoverKeepsQueuedWindowsAcrossAReplacement(t *testing.T) {
	clock := newFakeClock()
	oldLoc, newLoc := newFakeLocalizer(), newFakeLocalizer()
	old := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, oldLoc, streamCfg("a", 3, time.Minute), streamCfg("p", 3, time.Minute))
	next := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, newLoc, streamCfg("a", 3, time.Minute), streamCfg("p", 3, time.Minute))
	if err := next.s.Pause("p"); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	for seq := uint64(1); seq <= 4; seq++ { // 1 runs, 2…4 wait
		old.submit(t, window(t, "a", seq, now, false, false))
	}
	old.submit(t, window(t, "p", 1, now, false, false)) // waits behind a's window
	if id := oldLoc.next(t); id != "robot/a/1" {
		t.Fatalf("old scheduler started %s, want robot/a/1", id)
	}
	// The new scheduler is busy with a window of its own, and window 5
	// reaches it before the handover.
	next.submit(t, window(t, "a", 9, now, false, false))
	if id := newLoc.next(t); id != "robot/a/9" {
		t.Fatalf("new scheduler started %s, want robot/a/9", id)
	}
	next.submit(t, window(t, "a", 5, now, false, false))

	next.s.Adopt(old.s.Handover("a"))
	next.s.Adopt(old.s.Handover("p"))
	if got := old.obs.queueDepth("a"); got != 0 {
		t.Fatalf("old queue depth after the handover: %d", got)
	}
	// 2…5 make four for a queue of 3: the oldest, 2, goes.
	if got := next.obs.drops("a", schedule.DropQueueFull); got != 1 {
		t.Fatalf("queue_full drops in the new scheduler: %d, want 1", got)
	}
	if got := next.obs.drops("p", schedule.DropPaused); got != 1 {
		t.Fatalf("the paused stream's handed window: %d paused drops, want 1", got)
	}
	oldLoc.finishOne(t)
	waittest.For(t, "the old scheduler's running window published", 20*time.Second, func() bool { return old.pub.count("a") == 1 })
	if err := old.stop(); err != nil {
		t.Fatal(err)
	}
	if got := old.obs.totalDrops("a") + old.obs.totalDrops("p"); got != 0 {
		t.Fatalf("the old scheduler dropped %v %v, want nothing", old.obs.dropped["a"], old.obs.dropped["p"])
	}
	// The newest handed window starts next; the queue kept seq order.
	newLoc.finishOne(t)
	if id := newLoc.next(t); id != "robot/a/5" {
		t.Fatalf("after the handover the new scheduler started %s, want robot/a/5 (the newest)", id)
	}
}

// TestAdoptedWindowsFillEveryFreeSlot: windows handed over to a scheduler
// with free slots all start at once; admission does not stop at one window
// a stream while slots idle (work-conserving).
func TestAdoptedWindowsFillEveryFreeSlot(t *testing.T) {
	clock := newFakeClock()
	oldLoc, newLoc := newFakeLocalizer(), newFakeLocalizer()
	old := startRig(t, schedule.Config{MaxWindows: 1, Clock: clock}, oldLoc, streamCfg("a", 3, time.Minute))
	next := startRig(t, schedule.Config{MaxWindows: 3, Clock: clock}, newLoc, streamCfg("a", 3, time.Minute))
	now := clock.Now()
	for seq := uint64(1); seq <= 4; seq++ { // 1 runs, 2…4 wait
		old.submit(t, window(t, "a", seq, now, false, false))
	}
	if id := oldLoc.next(t); id != "robot/a/1" {
		t.Fatalf("old scheduler started %s, want robot/a/1", id)
	}
	next.s.Adopt(old.s.Handover("a"))
	var got []string
	for range 3 {
		got = append(got, newLoc.next(t))
	}
	slices.Sort(got)
	if want := []string{"robot/a/2", "robot/a/3", "robot/a/4"}; !slices.Equal(got, want) {
		t.Fatalf("started %v, want %v", got, want)
	}
	oldLoc.finishOne(t)
	for range 3 {
		newLoc.finishOne(t)
	}
}
