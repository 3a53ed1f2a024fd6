package publish

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// TestEventsNeverPruned: track events stay out of the detections'
// accounting. Stored through an outage longer than max_age, with more
// detections than max_pending behind them, every event still arrives,
// while the detections are pruned as before (issue 15 with issue
// 14: a lost end would leave a track open forever).
func TestEventsNeverPruned(t *testing.T) {
	noLeaks(t)
	b, _ := sessionBroker(t, "events-detections-sub", mosquittotest.Config{})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "events-sub", Persistent: true, QoS: 1,
		Topics: []string{testPrefix + "/" + testNode + "/front/events"},
	})
	o := testOptions(t, b.URL())
	o.MaxPending, o.MaxAge = 2, time.Second
	h := newHarness(t, o)
	h.run(t)
	waittest.For(t, "the connection", 20*time.Second, h.p.Connected)
	b.Stop()
	waittest.For(t, "the loss of the connection", 20*time.Second, func() bool { return !h.p.Connected() })

	const events = 4
	for i := range events {
		h.p.Event("front", fmt.Appendf(nil, `{"n":%d}`, i))
		h.p.Detection("front", uint64(2*i+1), detectionPayload(t, "front", uint64(2*i+1)))
		h.p.Detection("front", uint64(2*i+2), detectionPayload(t, "front", uint64(2*i+2)))
	}
	waittest.For(t, "the events and max_pending detections in the store", 10*time.Second, func() bool {
		return storedDetections(t, o.StoreDir) == events+o.MaxPending && handedOver(h.p)
	})
	stored := time.Now()
	// The outage outlasts max_age: the stored detections expire.
	waittest.For(t, "max_age to pass", 10*time.Second, func() bool { return time.Since(stored) > 2*o.MaxAge })
	b.Start()

	var want []string
	for i := range events {
		want = append(want, fmt.Sprintf(`{"n":%d}`, i))
	}
	sub.WaitFor(t, "every event", 30*time.Second, func(m []mosquittotest.Message) bool { return len(m) >= events })
	var got []string
	for _, m := range sub.Messages() {
		if m.Retained {
			t.Errorf("event %s arrived retained", m.Payload)
		}
		got = append(got, string(m.Payload))
	}
	// paho resends its store after a reconnect in message-id order, not
	// in the order published; consumers order events by their time.
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	waittest.For(t, "the events counted as published", 10*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindEvent] }) == events
	})
	if n := h.obs.get(func(r *recorder) int { return r.dropped[DropMaxPending] + r.dropped[DropExpired] }); n != 2*events {
		t.Errorf("%d detections pruned, want all %d (max_pending, then max_age)", n, 2*events)
	}
	if n := h.obs.get(func(r *recorder) int { return r.pending }); n != 0 {
		t.Errorf("pending %d after the outage; events must not count", n)
	}
}

// TestTracksRetainedAndCoalesced: a stream's track lists while the broker
// is away collapse to the latest, which a subscriber that comes later
// finds retained.
func TestTracksRetainedAndCoalesced(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	b.Stop()
	h := newHarness(t, testOptions(t, b.URL()))
	h.run(t)
	for i := range 1000 {
		h.p.Tracks("front", fmt.Appendf(nil, `{"tracks":%d}`, i))
	}
	h.p.Tracks("front", []byte(`{"tracks":[]}`))
	b.Start()
	waittest.For(t, "the connection", 30*time.Second, h.p.Connected)
	waittest.For(t, "the list published", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindTracks] }) >= 1
	})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "tracks-late", QoS: 1, Topics: []string{testPrefix + "/" + testNode + "/front/tracks"},
	})
	sub.WaitFor(t, "the retained list", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && m[0].Retained && string(m[0].Payload) == `{"tracks":[]}`
	})
	if n := h.obs.get(func(r *recorder) int { return r.published[KindTracks] }); n > 2 {
		t.Errorf("%d track lists published for 1001 while disconnected; want them coalesced", n)
	}
}
