package publish

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// handedOver reports whether every detection given to the publisher has
// reached paho's store (or been dropped).
func handedOver(p *Publisher) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0 && p.handing == 0
}

// watchStore polls the store directory until the test ends and returns
// the most detections it ever held.
func watchStore(t *testing.T, dir string) (most func() int64) {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if n := int64(storedDetections(t, dir)); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	return peak.Load
}

// TestNoPubackBacklogBoundedAcrossReconnects: a broker that never sends a
// PUBACK, dropped four times, with max_pending = 5. The store never holds
// more than 5 detections, the pending gauge reads exactly what is stored,
// every detection pushed out is counted as dropped and none as published,
// and a dropped detection is never resent after a reconnect.
func TestNoPubackBacklogBoundedAcrossReconnects(t *testing.T) {
	noLeaks(t)
	fb := startFakeBroker(t)
	o := testOptions(t, fb.URL())
	o.MaxPending = 5
	o.FlushTimeout = 500 * time.Millisecond // nothing will be acknowledged
	h := newHarness(t, o)
	most := watchStore(t, o.StoreDir)
	h.run(t)

	const rounds, perRound = 5, 5
	seq := uint64(0)
	for round := range rounds {
		waittest.For(t, "connection "+strconv.Itoa(round+1), 20*time.Second, func() bool {
			return fb.connections() == round+1 && h.p.Connected()
		})
		for range perRound {
			seq++
			h.p.Detection("front", seq, detectionPayload(t, "front", seq))
		}
		waittest.For(t, "this round's detections at the broker", 20*time.Second, func() bool {
			got := fb.received(round)
			return slices.Contains(got, seq) && handedOver(h.p)
		})
		if n := storedDetections(t, o.StoreDir); n != o.MaxPending {
			t.Errorf("round %d: store holds %d detections, want %d", round, n, o.MaxPending)
		}
		if got := h.obs.get(func(r *recorder) int { return r.pending }); got != o.MaxPending {
			t.Errorf("round %d: pending gauge %d, want %d", round, got, o.MaxPending)
		}
		// A connection only ever carries the previous round's survivors
		// (resent) and this round's detections: nothing pruned comes back.
		lo := uint64(max(0, round-1)*perRound + 1)
		for _, s := range fb.received(round) {
			if s < lo {
				t.Errorf("connection %d carried seq %d, dropped before it", round+1, s)
			}
		}
		if round < rounds-1 {
			fb.drop()
		}
	}
	if got := most(); got > int64(o.MaxPending) {
		t.Errorf("store held %d detections at its peak, want at most max_pending = %d", got, o.MaxPending)
	}
	if got := h.obs.get(func(r *recorder) int { return r.maxPending }); got > o.MaxPending {
		t.Errorf("pending gauge peaked at %d, want at most %d", got, o.MaxPending)
	}
	produced := int(seq)
	dropped := h.obs.get(func(r *recorder) int { return r.dropped[DropMaxPending] })
	published := h.obs.get(func(r *recorder) int { return r.published[KindDetection] })
	if dropped != produced-o.MaxPending || published != 0 || h.obs.droppedTotal() != dropped {
		t.Errorf("produced %d: dropped %d (max_pending), published %d, dropped in all %d; want %d, 0, %d",
			produced, dropped, published, h.obs.droppedTotal(), produced-o.MaxPending, produced-o.MaxPending)
	}
}

// TestStoredDetectionsExpire: detections stored during an outage longer
// than max_age are dropped, unsent, when the broker is back, and counted
// as expired; a live one still goes out.
func TestStoredDetectionsExpire(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "expire-sub", mosquittotest.Config{})
	o := testOptions(t, b.URL())
	o.MaxAge = time.Second
	// Detections garssld expired itself are not the broker's drops: the
	// delivery echo must not await them.
	o.VerifyDelivery, o.ConfirmWithin = true, time.Second
	h := newHarness(t, o)
	h.run(t)
	waittest.For(t, "the connection", 20*time.Second, h.p.Connected)
	b.Stop()
	waittest.For(t, "the loss of the connection", 20*time.Second, func() bool { return !h.p.Connected() })
	for seq := uint64(1); seq <= 3; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "three stored detections", 10*time.Second, func() bool {
		return storedDetections(t, o.StoreDir) == 3 && handedOver(h.p)
	})
	stored := time.Now()
	// The outage outlasts max_age.
	waittest.For(t, "max_age to pass", 10*time.Second, func() bool { return time.Since(stored) > 2*o.MaxAge })
	b.Start()
	waittest.For(t, "the reconnection", 20*time.Second, h.p.Connected)
	h.p.Detection("front", 4, detectionPayload(t, "front", 4))
	sch := detectionSchema(t)
	sub.WaitFor(t, "seq 4", 20*time.Second, func(m []mosquittotest.Message) bool {
		return slices.Contains(detectionSeqs(t, sch, m, "front"), 4)
	})
	waittest.For(t, "pending 0", 10*time.Second, func() bool { return h.obs.get(func(r *recorder) int { return r.pending }) == 0 })
	if got := detectionSeqs(t, sch, sub.Messages(), "front"); !slices.Equal(got, []uint64{4}) {
		t.Errorf("received seqs %v, want only 4", got)
	}
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropExpired] }); got != 3 {
		t.Errorf("expired %d, want 3", got)
	}
	if got := h.obs.get(func(r *recorder) int { return r.published[KindDetection] }); got != 1 {
		t.Errorf("published %d detections, want 1", got)
	}
	if n := len(h.logs.lines("older than max_age")); n != 1 {
		t.Errorf("%d 'older than max_age' lines, want 1", n)
	}
	received := time.Now()
	waittest.For(t, "confirm_within to pass twice", 10*time.Second, func() bool { return time.Since(received) > 2*o.ConfirmWithin })
	if n := h.obs.get(func(r *recorder) int { return r.unconfirmed }); n != 0 || len(h.p.Problems())+len(h.p.Warnings()) != 0 {
		t.Errorf("expired detections awaited as echoes: %d unconfirmed, problems %q, warnings %q", n, h.p.Problems(), h.p.Warnings())
	}
}

// TestStoredDetectionsExpireAcrossRestart: what an earlier run left in
// the store is dated by its files and expires at start; the pending gauge
// counts it.
func TestStoredDetectionsExpireAcrossRestart(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "expire-restart-sub", mosquittotest.Config{})
	b.Stop()
	o := testOptions(t, b.URL())
	earlier := newHarness(t, o)
	stop := earlier.run(t)
	for seq := uint64(1); seq <= 5; seq++ {
		earlier.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "five stored detections", 10*time.Second, func() bool { return handedOver(earlier.p) })
	stop()
	// Three are an hour old, two are fresh.
	files, _ := filepath.Glob(filepath.Join(o.StoreDir, "o.*.msg"))
	old := time.Now().Add(-time.Hour)
	aged := 0
	for _, f := range files {
		if pkt := readStored(t, f); pkt != nil && !pkt.Retain && aged < 3 {
			if err := os.Chtimes(f, old, old); err != nil {
				t.Fatal(err)
			}
			aged++
		}
	}

	b.Start()
	h := newHarness(t, o)
	h.run(t)
	sch := detectionSchema(t)
	sub.WaitFor(t, "the two fresh detections", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(detectionSeqs(t, sch, m, "front")) >= 2
	})
	waittest.For(t, "pending 0", 10*time.Second, func() bool { return h.obs.get(func(r *recorder) int { return r.pending }) == 0 })
	if got := len(detectionSeqs(t, sch, sub.Messages(), "front")); got != 2 {
		t.Errorf("received %d detections, want the 2 fresh ones", got)
	}
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropExpired] }); got != 3 {
		t.Errorf("expired %d, want 3", got)
	}
	if got := h.obs.get(func(r *recorder) int { return r.maxPending }); got != 5 {
		t.Errorf("pending gauge peaked at %d, want the 5 stored by the earlier run", got)
	}
}

// TestPrunedMessageIDsDoNotLeak: each detection pruned from the store
// leaves its message id claimed in paho's client (paho frees ids only on
// acknowledgements). 1,000 prunes would claim 1,000 ids, against a broker
// that acknowledges nothing or during an outage; the publisher replaces
// the client once orphanLimit are held, so the claimed ids stay bounded,
// and the detections kept in the store still go out.
func TestPrunedMessageIDsDoNotLeak(t *testing.T) {
	for _, outage := range []bool{false, true} {
		name := map[bool]string{false: "broker never acknowledges", true: "broker unreachable"}[outage]
		t.Run(name, func(t *testing.T) { prunedIDsBounded(t, outage) })
	}
}

func prunedIDsBounded(t *testing.T, outage bool) {
	noLeaks(t)
	var fb *fakeBroker
	var url string
	port := mosquittotest.ReservePort(t)
	if outage {
		url = "tcp://127.0.0.1:" + strconv.Itoa(port)
	} else {
		fb = startFakeBroker(t)
		url = fb.URL()
	}
	o := testOptions(t, url)
	o.MaxPending = 5
	o.FlushTimeout = 500 * time.Millisecond
	h := newHarness(t, o)
	const limit = 100
	h.p.orphanLimit = limit
	h.run(t)
	if !outage {
		waittest.For(t, "the connection", 20*time.Second, h.p.Connected)
	}

	const prunes = 1000
	most := 0
	seq := uint64(0)
	for seq < prunes+uint64(o.MaxPending) {
		for range o.MaxPending {
			seq++
			h.p.Detection("front", seq, detectionPayload(t, "front", seq))
		}
		waittest.For(t, "the batch stored", 20*time.Second, func() bool { return handedOver(h.p) })
		most = max(most, pahoClaimedIDs(t, h.p.current.Load().Client))
	}
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropMaxPending] }); got != prunes {
		t.Fatalf("pruned %d, want %d", got, prunes)
	}
	// Room for the stored detections and the status messages a broker
	// that acknowledges nothing leaves claimed (one per connection).
	connections := 0
	if fb != nil {
		connections = fb.connections()
	}
	if bound := limit + o.MaxPending + 2*connections + 5; most > bound {
		t.Errorf("paho held %d message ids at most across %d prunes, want at most %d", most, prunes, bound)
	}
	if n := len(h.logs.lines("replacing the MQTT client")); n < prunes/limit-1 {
		t.Errorf("client replaced %d times, want about %d", n, prunes/limit)
	}
	t.Logf("%d prunes: paho held at most %d message ids", prunes, most)
	if !outage {
		waittest.For(t, "the last detection at the broker", 20*time.Second, func() bool {
			for i := range fb.connections() {
				if slices.Contains(fb.received(i), seq) {
					return true
				}
			}
			return false
		})
		return
	}
	mosquittotest.StartOn(t, port, mosquittotest.Config{})
	waittest.For(t, "pending 0", 30*time.Second, func() bool { return h.obs.get(func(r *recorder) int { return r.pending }) == 0 })
	if got := h.obs.get(func(r *recorder) int { return r.published[KindDetection] }); got != o.MaxPending {
		t.Errorf("published %d detections after the outage, want the %d kept", got, o.MaxPending)
	}
}

// TestBacklogAccounting walks the backlog through acknowledgements in
// and out of order, prunes and resumes.
func TestBacklogAccounting(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	b := newBacklog()
	for i := 1; i <= 4; i++ {
		b.add("o."+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Minute), i != 4, 0)
	}
	if b.add("o.2", t0, true, 0) {
		t.Error("a PUBREL written over a stored key counted as new")
	}
	if !b.acked("o.2") || b.acked("o.2") {
		t.Error("an acknowledgement must count once")
	}
	if k, _ := b.oldest(); k != "o.1" {
		t.Errorf("oldest = %s, want o.1", k)
	}
	b.prune("o.1")
	if k, _ := b.oldest(); k != "o.3" || b.orphaned() != 1 {
		t.Errorf("after pruning o.1: oldest %s, orphans %d; want o.3, 1", k, b.orphaned())
	}
	if b.acked("o.1") || b.orphaned() != 0 {
		t.Error("a late acknowledgement of a pruned key must free its orphan and count nothing")
	}
	// o.3 (3 min) is older than max_age at 4.5 min; o.4 (unclaimed) is
	// not, but a limit of 0 prunes it without an orphan.
	expired, over := b.resume(t0.Add(4*time.Minute+30*time.Second), time.Minute, 0)
	if !slices.Equal(expired, []string{"o.3"}) || !slices.Equal(over, []string{"o.4"}) || b.len() != 0 {
		t.Errorf("resume: expired %v, over %v, left %d; want [o.3], [o.4], 0", expired, over, b.len())
	}
	if b.orphaned() != 1 {
		t.Errorf("orphans %d, want 1 (o.3 was claimed, o.4 not)", b.orphaned())
	}
	b.newClient()
	if b.orphaned() != 0 {
		t.Error("a new client holds no orphans")
	}

	// Acknowledgements out of order do not let the order list grow.
	for i := range 1000 {
		b.add("o."+strconv.Itoa(100+i), t0, true, 0)
		if i >= 10 {
			b.acked("o." + strconv.Itoa(100+i-5))
		}
	}
	if b.len() != 10 || len(b.order) > 2*b.len()+65 {
		t.Errorf("%d entries, %d in order; want 10 and a compacted order", b.len(), len(b.order))
	}
	if k, _ := b.oldest(); k != "o.100" {
		t.Errorf("oldest = %s, want o.100", k)
	}
}

// TestQoS2AccountedOnPubcomp: at QoS 2 paho writes the PUBREL over the
// stored publish and deletes it on PUBCOMP; a detection is pending until
// then and published once, across an outage too.
func TestQoS2AccountedOnPubcomp(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "qos2-sub", mosquittotest.Config{})
	o := testOptions(t, b.URL())
	o.QoS = 2
	h := newHarness(t, o)
	h.run(t)
	waittest.For(t, "the connection", 20*time.Second, h.p.Connected)
	for seq := uint64(1); seq <= 5; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	b.Stop()
	for seq := uint64(6); seq <= 10; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	b.Start()
	sch := detectionSchema(t)
	sub.WaitFor(t, "seqs 1..10", 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 1, 10)
	})
	waittest.For(t, "pending 0 and 10 published", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.pending }) == 0 &&
			h.obs.get(func(r *recorder) int { return r.published[KindDetection] }) == 10
	})
	if d := h.obs.droppedTotal(); d != 0 {
		t.Errorf("dropped %d", d)
	}
}
