package publish

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

type statusMsg struct {
	State   string   `json:"state"`
	Node    string   `json:"node"`
	Version string   `json:"version"`
	Streams []string `json:"streams"`
}

func lastStatus(t *testing.T, msgs []mosquittotest.Message) (statusMsg, bool) {
	t.Helper()
	var st statusMsg
	topic := testPrefix + "/" + testNode + "/status"
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == topic {
			if err := json.Unmarshal(msgs[i].Payload, &st); err != nil {
				t.Fatalf("status %q: %v", msgs[i].Payload, err)
			}
			return st, true
		}
	}
	return st, false
}

// probeRetainedStatus connects a fresh subscriber and returns the
// retained status it is sent, if any arrives within a few seconds.
func probeRetainedStatus(t *testing.T, b *mosquittotest.Broker) (statusMsg, bool) {
	t.Helper()
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "status-probe", QoS: 1, Topics: []string{testPrefix + "/" + testNode + "/status"},
	})
	defer sub.Close()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range sub.Messages() {
			if m.Retained {
				st, _ := lastStatus(t, []mosquittotest.Message{m})
				return st, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return statusMsg{}, false
}

// retainedStatus is the retained status, which must exist.
func retainedStatus(t *testing.T, b *mosquittotest.Broker) statusMsg {
	t.Helper()
	st, ok := probeRetainedStatus(t, b)
	if !ok {
		t.Fatal("no retained status")
	}
	return st
}

// TestDetectionsStatusAndStopped publishes detections at QoS 1, announces
// the node as online with its streams (again when they change and after
// the broker restarts, which loses retained messages without
// persistence), and leaves "stopped" retained after a clean shutdown.
func TestDetectionsStatusAndStopped(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "watcher", QoS: 1, Topics: []string{testPrefix + "/#"},
	})
	h := newHarness(t, testOptions(t, b.URL()))
	h.p.SetStreams([]string{"rear", "front"})
	stop := h.run(t)
	statuses := func(n int) func() bool {
		return func() bool { return h.obs.get(func(r *recorder) int { return r.published[KindStatus] }) >= n }
	}

	waittest.For(t, "the online status", 20*time.Second, statuses(1))
	st := retainedStatus(t, b)
	if st.State != StatusOnline || st.Node != testNode || st.Version != "test-1.0" || !slices.Equal(st.Streams, []string{"front", "rear"}) {
		t.Fatalf("online status = %+v", st)
	}
	for seq := uint64(1); seq <= 20; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	sch := detectionSchema(t)
	sub.WaitFor(t, "20 detections", 20*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 1, 20)
	})
	waittest.For(t, "20 published tokens", 10*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindDetection] }) == 20
	})
	if !h.p.Connected() {
		t.Error("Connected() = false while publishing")
	}

	h.p.SetStreams([]string{"front"})
	sub.WaitFor(t, "status with the new stream list", 10*time.Second, func(m []mosquittotest.Message) bool {
		st, ok := lastStatus(t, m)
		return ok && slices.Equal(st.Streams, []string{"front"})
	})

	// Without persistence the restarted broker has forgotten the retained
	// status: only a publish after the reconnect brings it back.
	b.Stop()
	waittest.For(t, "the disconnect to be noticed", 20*time.Second, func() bool { return !h.p.Connected() })
	b.Start()
	waittest.For(t, "the reconnect", 20*time.Second, h.p.Connected)
	waittest.For(t, "the online status after the reconnect", 20*time.Second, statuses(3))
	// The restarted broker forgot the session too: set commands arrive
	// only because the subscription is made again on every connect.
	waitSubscribed(t, h, b)
	if st := retainedStatus(t, b); st.State != StatusOnline || !slices.Equal(st.Streams, []string{"front"}) {
		t.Fatalf("status after the broker restarted = %+v", st)
	}

	stop()
	if st := retainedStatus(t, b); st.State != StatusStopped || st.Node != testNode {
		t.Fatalf("status after shutdown = %+v, want stopped", st)
	}
	if n := h.obs.get(func(r *recorder) int { return r.pending }); n != 0 {
		t.Errorf("pending after shutdown = %d", n)
	}
	if d := h.obs.droppedTotal(); d != 0 {
		t.Errorf("dropped %d detections: %v", d, h.obs.dropped)
	}
	if n := h.obs.get(func(r *recorder) int { return r.ups }); n < 2 {
		t.Errorf("Connected(true) reported %d times, want one per connection", n)
	}
	h.obs.mu.Lock()
	up := h.obs.connected
	h.obs.mu.Unlock()
	if up {
		t.Error("Connected(false) not reported at shutdown")
	}
}

// TestStreamStateRetainedAndCoalesced: state updates never block, are
// coalesced while the broker is away, and the retained state is the
// latest one.
func TestStreamStateRetainedAndCoalesced(t *testing.T) {
	noLeaks(t)
	port := mosquittotest.ReservePort(t)
	h := newHarness(t, testOptions(t, "tcp://127.0.0.1:"+strconv.Itoa(port)))
	h.p.SetStreams([]string{"front"})
	h.run(t)

	start := time.Now()
	for i := range 5000 {
		h.p.StreamState("front", []string{"connecting", "running", "reconnecting"}[i%3], "input/output error", 0)
	}
	h.p.StreamState("front", "running", "", 0)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("5001 state updates took %s with the broker down", d)
	}

	b := mosquittotest.StartOn(t, port, mosquittotest.Config{})
	waittest.For(t, "the first connection", 30*time.Second, h.p.Connected)
	// Subscribe once the state is acknowledged: a subscriber that came
	// first would get it live, without the retain flag this test reads.
	waittest.For(t, "the state published", 30*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindState] }) > 0
	})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "state-probe", QoS: 1, Topics: []string{testPrefix + "/" + testNode + "/front/state"},
	})
	sub.WaitFor(t, "the retained state", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && m[len(m)-1].Retained && string(m[len(m)-1].Payload) == `{"state":"running","error":null}`
	})
	if n := h.obs.get(func(r *recorder) int { return r.published[KindState] }); n > 2 {
		t.Errorf("%d state messages published for 5001 updates while disconnected; want them coalesced", n)
	}

	h.p.StreamState("front", "paused", "", 0)
	h.p.StreamState("front", "reconnecting", "connection refused", 0)
	sub.WaitFor(t, "the reconnecting state", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && string(m[len(m)-1].Payload) == `{"state":"reconnecting","error":"connection refused"}`
	})
}

// TestStatusPayloadShape pins the status payloads, the will included.
func TestStatusPayloadShape(t *testing.T) {
	h := newHarness(t, testOptions(t, "tcp://127.0.0.1:1"))
	h.p.SetStreams([]string{"front"})
	for state, want := range map[string]string{
		StatusOffline: `{"state":"offline","node":"robot-7","run_id":"` + testRunID + `","version":"test-1.0"}`,
		StatusOnline:  `{"state":"online","node":"robot-7","run_id":"` + testRunID + `","version":"test-1.0","streams":["front"]}`,
	} {
		if got := string(h.p.statusPayload(state)); got != want {
			t.Errorf("%s payload = %s, want %s", state, got, want)
		}
	}
	if got := string(newHarness(t, testOptions(t, "tcp://127.0.0.1:1")).p.statusPayload(StatusOnline)); !strings.Contains(got, `"streams":[]`) {
		t.Errorf("no streams: %s", got)
	}
}

// Stream states come from several goroutines (a camera and a separate
// microphone), so a callback can arrive after a newer one: the state kept
// for publishing, and for any resend, is the highest seq's, whatever the
// order of the calls.
func TestStreamStateKeepsTheNewestSeq(t *testing.T) {
	h := newHarness(t, testOptions(t, "tcp://127.0.0.1:1"))
	h.p.SetStreams([]string{"front"})
	latest := func() string {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		return string(h.p.states["front"])
	}
	running := `{"state":"running","error":null}`
	var base uint64 // each round's numbers go on above the last round's
	for _, order := range [][]uint64{{1, 2, 3}, {3, 1, 2}, {2, 3, 1}} {
		states := map[uint64]string{1: "connecting", 2: "reconnecting", 3: "running"}
		for _, seq := range order {
			h.p.StreamState("front", states[seq], "", base+seq)
		}
		if got := latest(); got != running {
			t.Errorf("delivered in the order %v: kept %s, want %s", order, got, running)
		}
		if got := string(h.p.store.latest[h.p.topics.state("front")]); got != running {
			t.Errorf("delivered in the order %v: a resend would carry %s", order, got)
		}
		base += 3
	}
}
