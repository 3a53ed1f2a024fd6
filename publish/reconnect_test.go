package publish

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// TestRedialDelays walks redial through outages on a fake clock.
func TestRedialDelays(t *testing.T) {
	type step struct {
		after     time.Duration // clock advance before the attempt
		reconnect bool
		attempt   int
		lo, hi    time.Duration // the delay wanted
	}
	fast := []time.Duration{fastDelay / 2, fastDelay}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first connection tries at once, then every second", []step{
			{0, false, 0, 0, 0},
			{0, false, 1, fast[0], fast[1]},
			{time.Second, false, 2, fast[0], fast[1]},
		}},
		{"past the fast phase the wait doubles to the cap", []step{
			{0, false, 0, 0, 0},
			{fastPhase, false, 1, time.Second, 2 * time.Second},
			{2 * time.Second, false, 2, 2 * time.Second, 4 * time.Second},
			{4 * time.Second, false, 3, 4 * time.Second, 8 * time.Second},
			{8 * time.Second, false, 4, 4 * time.Second, 8 * time.Second}, // cap 8s
		}},
		{"a connection that lasted resets the backoff", []step{
			{0, false, 0, 0, 0},
			{fastPhase, false, 1, time.Second, 2 * time.Second},
			{2 * time.Second, false, 2, 2 * time.Second, 4 * time.Second}, // this one connects
			{stableAfter, true, 0, 0, 0},
			{0, true, 1, fast[0], fast[1]},
		}},
		{"a connection closed at once does not", []step{
			{0, false, 0, 0, 0},
			{fastPhase, false, 1, time.Second, 2 * time.Second}, // this one connects
			{time.Second, true, 0, 2 * time.Second, 4 * time.Second},
			{4 * time.Second, true, 1, 4 * time.Second, 8 * time.Second},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRedial(8 * time.Second)
			now := time.Unix(1e9, 0)
			r.now = func() time.Time { return now }
			for i, s := range c.steps {
				now = now.Add(s.after)
				if d := r.delay(s.reconnect, s.attempt); d < s.lo || d > s.hi {
					t.Errorf("step %d: delay %v, want %v to %v", i, d, s.lo, s.hi)
				}
			}
		})
	}
}

// flapCycle returns the broker cycle of TestReconnectsKeepUpWithFlappingBroker:
// the 20 s (5 s down) for 3 minutes with GARSSLD_FLAP_FULL=1
// (make bench), else three 15 s cycles whose up-periods still outlast
// stableAfter. Both are short enough for paho's own backoff to fall
// behind by the third outage (it starts afresh only after 20 s without a
// failed attempt).
func flapCycle() (up, down time.Duration, cycles int) {
	if os.Getenv("GARSSLD_FLAP_FULL") != "" {
		return 15 * time.Second, 5 * time.Second, 9
	}
	return stableAfter + 2*time.Second, 3 * time.Second, 3
}

// TestReconnectsKeepUpWithFlappingBroker: a broker restarted over and
// over. Every up-period sees the publisher connected within 3 s of its
// start (the fast phase waits at most fastDelay between attempts), and at
// the end nothing is pending, published + dropped = produced, and every
// detection arrived (once, after dedup).
func TestReconnectsKeepUpWithFlappingBroker(t *testing.T) {
	noLeaks(t)
	up, down, cycles := flapCycle()
	b, sub := sessionBroker(t, "flap-sub", mosquittotest.Config{})
	o := testOptions(t, b.URL())
	o.MaxReconnectInterval = 30 * time.Second
	h := newHarness(t, o)
	h.run(t)

	var produced uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			h.p.Detection("front", seq, detectionPayload(t, "front", seq))
			produced = seq
		}
	}()
	stopProducing := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopProducing)

	const within = 3 * time.Second
	for i := range cycles {
		started := time.Now()
		waittest.For(t, "a connection in up-period "+strconv.Itoa(i), 20*time.Second, h.p.Connected)
		if took := time.Since(started); took > within {
			t.Errorf("up-period %d: connected %v after the broker started, want within %v", i, took.Round(time.Millisecond), within)
		} else {
			t.Logf("up-period %d: connected after %v", i, took.Round(time.Millisecond))
		}
		time.Sleep(up - time.Since(started)) // the broker's schedule, not a synchronisation
		b.Stop()
		time.Sleep(down)
		b.Start()
	}
	started := time.Now()
	waittest.For(t, "the last connection", 20*time.Second, h.p.Connected)
	if took := time.Since(started); took > within {
		t.Errorf("last up-period: connected %v after the broker started, want within %v", took.Round(time.Millisecond), within)
	}
	stopProducing()

	waittest.For(t, "pending 0", 60*time.Second, func() bool { return h.obs.get(func(r *recorder) int { return r.pending }) == 0 })
	published := h.obs.get(func(r *recorder) int { return r.published[KindDetection] })
	dropped := h.obs.droppedTotal()
	if uint64(published+dropped) != produced || dropped != 0 {
		t.Errorf("produced %d: published %d + dropped %d", produced, published, dropped)
	}
	sch := detectionSchema(t)
	sub.WaitFor(t, "every detection", 60*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 1, produced)
	})
	_, dups := distinct(detectionSeqs(t, sch, sub.Messages(), "front"))
	t.Logf("%d cycles of %v up, %v down: %d produced, %d published, %d duplicates before dedup", cycles, up, down, produced, published, dups)
}
