package publish

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// produce hands the publisher a detection of "front" every 50 ms, seqs
// from 1, until stop or the end of the test. count is how many it
// produced.
func produce(t *testing.T, h *harness) (stop func(), count func() uint64) {
	var (
		mu       sync.Mutex
		produced uint64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			produced++
			seq := produced
			mu.Unlock()
			h.p.Detection("front", seq, detectionPayload(t, "front", seq))
		}
	}()
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop, func() uint64 { mu.Lock(); defer mu.Unlock(); return produced }
}

func verifyOptions(t *testing.T, url string) Options {
	o := testOptions(t, url)
	o.VerifyDelivery, o.ConfirmWithin = true, 2*time.Second
	return o
}

// TestDeliveryNeverEchoed: a broker whose ACL denies reading, or writing,
// the detections acknowledges them all the same; garssld cannot tell
// which, and says that delivery cannot be verified, counts the
// unconfirmed detections and stays ready (a warning, not a problem).
func TestDeliveryNeverEchoed(t *testing.T) {
	for _, tc := range []struct{ name, acl string }{
		{"read denied", "topic write garssl/#\ntopic read garssl/+/+/set\n"},
		{"write denied", "topic write garssl/+/status\ntopic write garssl/+/+/state\ntopic read garssl/#\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			b := mosquittotest.Start(t, mosquittotest.Config{ACL: tc.acl})
			h := newHarness(t, verifyOptions(t, b.URL()))
			h.p.SetStreams([]string{"front"})
			h.run(t)
			produce(t, h)
			want := "delivery cannot be verified: the broker may deny reading or writing garssl/robot-7/+/detections"
			waittest.For(t, "the warning", 15*time.Second, func() bool {
				w := h.p.Warnings()
				return len(w) == 1 && w[0] == want
			})
			if n := h.obs.get(func(r *recorder) int { return r.unconfirmed }); n == 0 {
				t.Error("no unconfirmed detection counted")
			}
			if pr := h.p.Problems(); len(pr) != 0 {
				t.Errorf("problems %q; want none (delivery may still work)", pr)
			}
			if n := len(h.logs.lines("delivery cannot be verified")); n != 1 {
				t.Errorf("%d log lines say delivery cannot be verified; want 1", n)
			}
		})
	}
}

// TestDeliveryStopsEchoing: echoes that had worked stop when the broker
// starts dropping detections (here: a message_size_limit below their
// size); that is a problem for /readyz while it lasts, logged once, and
// it ends when detections come back again.
func TestDeliveryStopsEchoing(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{Persistence: true})
	h := newHarness(t, verifyOptions(t, b.URL()))
	h.p.SetStreams([]string{"front"})
	h.run(t)
	produce(t, h)
	waittest.For(t, "echoes to be confirmed", 15*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindDetection] }) > 20
	})
	time.Sleep(3 * time.Second) // longer than confirm_within: echoes did come back
	if n := h.obs.get(func(r *recorder) int { return r.unconfirmed }); n != 0 || len(h.p.Problems())+len(h.p.Warnings()) != 0 {
		t.Fatalf("healthy broker: %d unconfirmed, problems %q, warnings %q", n, h.p.Problems(), h.p.Warnings())
	}

	b.Restart(mosquittotest.Config{Persistence: true, MessageSizeLimit: 512})
	waittest.For(t, "the problem", 15*time.Second, func() bool {
		pr := h.p.Problems()
		return len(pr) == 1 && strings.Contains(pr[0], "the broker drops detections")
	})
	if n := h.obs.get(func(r *recorder) int { return r.unconfirmed }); n == 0 {
		t.Error("no unconfirmed detection counted")
	}
	if n := len(h.logs.lines("does not deliver them")); n != 1 {
		t.Errorf("%d log lines about the drops; want 1", n)
	}

	b.Restart(mosquittotest.Config{Persistence: true})
	waittest.For(t, "the problem to clear", 20*time.Second, func() bool { return len(h.p.Problems()) == 0 })
}

// TestDetectionTooLarge: a detection over MaxMessageBytes is not sent,
// but counted and logged once.
func TestDetectionTooLarge(t *testing.T) {
	o := testOptions(t, "tcp://127.0.0.1:1")
	o.MaxMessageBytes = 1024
	h := newHarness(t, o)
	h.p.Detection("front", 1, make([]byte, 1025))
	h.p.Detection("front", 2, make([]byte, 2000))
	h.p.Detection("front", 3, make([]byte, 1024))
	if n := h.obs.get(func(r *recorder) int { return r.dropped[DropTooLarge] }); n != 2 {
		t.Errorf("%d dropped as too large; want 2", n)
	}
	if n := len(h.logs.lines("larger than mqtt.max_message_bytes")); n != 1 {
		t.Errorf("%d log lines; want 1", n)
	}
	h.p.mu.Lock()
	queued := len(h.p.queue)
	h.p.mu.Unlock()
	if queued != 1 {
		t.Errorf("%d detections queued; want the one within the limit", queued)
	}
}

// TestVerifyOffUnsubscribes: turning verify_delivery off removes the echo
// subscription that the persistent session kept from a run with it on.
func TestVerifyOffUnsubscribes(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	o := verifyOptions(t, b.URL())
	filter := testPrefix + "/" + testNode + "/+/detections"
	on := newHarness(t, o)
	on.p.SetStreams([]string{"front"})
	stop := on.run(t)
	waittest.For(t, "the echo subscription", 20*time.Second, func() bool {
		return strings.Contains(b.Log(), " garssld-robot-7 0 "+filter+"\n")
	})
	stop()

	o.VerifyDelivery = false
	off := newHarness(t, o)
	off.p.SetStreams([]string{"front"})
	off.run(t)
	waittest.For(t, "the echo subscription to go", 20*time.Second, func() bool {
		return strings.Contains(b.Log(), " garssld-robot-7 "+filter+"\n")
	})
}
