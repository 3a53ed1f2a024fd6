package publish

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// TestNothingLostAcrossBrokerOutage stops a persistent broker for 10 s in
// the middle of a steady stream of detections. A subscriber with a
// persistent session must receive every seq, as one run without gaps
// (duplicates are allowed: at-least-once), and the publisher must be back
// within about max_reconnect_interval of the broker's return.
func TestNothingLostAcrossBrokerOutage(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "outage-sub", mosquittotest.Config{})
	h := newHarness(t, testOptions(t, b.URL()))
	h.p.SetStreams([]string{"front"})
	h.run(t)
	waittest.For(t, "the first connection", 20*time.Second, h.p.Connected)

	stopProducing, count := produce(t, h)

	sch := detectionSchema(t)
	sub.WaitFor(t, "detections before the outage", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(detectionSeqs(t, sch, m, "front")) >= 20
	})
	b.Stop()
	atStop := count()
	waittest.For(t, "the publisher to notice the outage", 20*time.Second, func() bool { return !h.p.Connected() })
	time.Sleep(10 * time.Second) // the outage itself
	duringOutage := count() - atStop
	attempts := h.p.failed.Load()
	restarted := time.Now()
	b.Start()
	waittest.For(t, "the publisher to reconnect", 30*time.Second, h.p.Connected)
	reconnectedAfter := time.Since(restarted)
	time.Sleep(time.Second) // a little traffic after the outage
	stopProducing()
	total := count()
	if duringOutage < 100 {
		t.Fatalf("only %d detections were produced during the outage", duringOutage)
	}

	sub.WaitFor(t, fmt.Sprintf("all %d seqs", total), 60*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return uint64(len(set)) >= total
	})
	set, dups := distinct(detectionSeqs(t, sch, sub.Messages(), "front"))
	if !hasRun(set, 1, total) {
		t.Fatalf("received %d distinct seqs, want exactly 1..%d", len(set), total)
	}
	if d := h.obs.droppedTotal(); d != 0 {
		t.Errorf("dropped %v", h.obs.dropped)
	}
	// paho's reconnect backoff is capped at 1 s here; its default cap of
	// 10 minutes would have slept about 8 s at this point of a 10 s outage.
	if reconnectedAfter > 4*time.Second {
		t.Errorf("reconnected %s after the broker came back; want about max_reconnect_interval (1s)", reconnectedAfter)
	}
	// 1 s apart, about ten attempts fit in the outage; doubling without
	// the cap (1, 2, 4, 8 s) gives five at most.
	if attempts < 7 {
		t.Errorf("%d connection attempts during a 10 s outage; want one about every max_reconnect_interval (1s)", attempts)
	}
	t.Logf("%d detections, %d during the outage, %d duplicates; %d failed attempts; reconnected %s after the broker returned",
		total, duringOutage, dups, attempts, reconnectedAfter.Round(time.Millisecond))
}

// TestPublishWhileBrokerDownAtBoot: detections published before the first
// connection go to the file store and are delivered once the broker is
// up (paho needs ConnectRetry for that; without it they fail with
// ErrNotConnected).
func TestPublishWhileBrokerDownAtBoot(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "boot-sub", mosquittotest.Config{})
	b.Stop()
	h := newHarness(t, testOptions(t, b.URL()))
	h.run(t)
	for seq := uint64(1); seq <= 5; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "five detections handed to paho", 10*time.Second, func() bool {
		return storedMessages(t, h.opts.StoreDir) == 5
	})
	b.Start()
	sch := detectionSchema(t)
	sub.WaitFor(t, "seqs 1..5", 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 1, 5)
	})
	waittest.For(t, "pending to return to 0", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.pending }) == 0
	})
	if d := h.obs.droppedTotal(); d != 0 {
		t.Errorf("dropped %v", h.obs.dropped)
	}
}

// storedMessages counts the messages in a paho file store directory.
func storedMessages(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "o.*.msg"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// TestMaxPendingDropsOldest bounds the outstanding detections at
// max_pending: detections still queued are dropped oldest first; once paho
// holds max_pending (in its file store, where they cannot be withdrawn),
// new ones are dropped. Drops are counted, logged once per burst, and the
// depth is exported.
func TestMaxPendingDropsOldest(t *testing.T) {
	noLeaks(t)
	b, sub := sessionBroker(t, "pending-sub", mosquittotest.Config{})
	b.Stop()
	o := testOptions(t, b.URL())
	o.MaxPending = 5
	h := newHarness(t, o)
	// Before Run nothing reaches paho: the queue keeps the newest five.
	for seq := uint64(1); seq <= 12; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropMaxPending] }); got != 7 {
		t.Fatalf("dropped %d before Run, want 7", got)
	}
	h.run(t)
	waittest.For(t, "the queue handed to paho", 10*time.Second, func() bool {
		return storedMessages(t, h.opts.StoreDir) == 5
	})
	// paho now holds all five: a new detection is the only one droppable.
	h.p.Detection("front", 13, detectionPayload(t, "front", 13))
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropMaxPending] }); got != 8 {
		t.Fatalf("dropped %d, want 8", got)
	}
	if got := h.obs.get(func(r *recorder) int { return r.maxPending }); got != 5 {
		t.Errorf("pending peaked at %d, want max_pending = 5", got)
	}
	if n := len(h.logs.lines("mqtt backlog is full")); n != 1 {
		t.Errorf("%d 'backlog is full' lines for one burst, want 1", n)
	}

	b.Start()
	sch := detectionSchema(t)
	sub.WaitFor(t, "seqs 8..12", 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 8, 12)
	})
	waittest.For(t, "the end of the burst", 20*time.Second, func() bool {
		return len(h.logs.lines("below max_pending again")) == 1
	})
	if l := h.logs.lines("below max_pending again")[0]; l["dropped"] != float64(8) {
		t.Errorf("burst summary = %v, want dropped 8", l)
	}
	// Below the limit again: nothing more is dropped.
	for seq := uint64(14); seq <= 16; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	sub.WaitFor(t, "seqs 14..16", 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return set[14] && set[15] && set[16]
	})
	set, _ := distinct(detectionSeqs(t, sch, sub.Messages(), "front"))
	for seq := uint64(1); seq <= 7; seq++ {
		if set[seq] {
			t.Errorf("seq %d arrived though it was dropped as the oldest", seq)
		}
	}
}

// childEnv switches the test binary into the publisher child of the kill
// tests (see TestMain).
const childEnv = "GARSSLD_PUBLISH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// childMain runs a Publisher configured from the environment, publishes
// CHILD_COUNT detections, prints "READY" once they are all in the file
// store (or, with CHILD_WAIT_ONLINE, once connected), and runs until
// SIGTERM.
func childMain() int {
	o := Options{
		Broker: os.Getenv("CHILD_BROKER"), ClientID: "garssld-" + testNode, QoS: 1,
		TopicPrefix: testPrefix, NodeID: testNode, Version: "child",
		StoreDir: os.Getenv("CHILD_STORE"), MaxPending: 10000, MaxReconnectInterval: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "child", Output: os.Stderr, Level: hclog.Info}),
	}
	p, err := New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p.SetStreams([]string{"front"})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	n, _ := strconv.Atoi(os.Getenv("CHILD_COUNT"))
	for seq := 1; seq <= n; seq++ {
		p.Detection("front", uint64(seq), detectionPayload(nil, "front", uint64(seq)))
	}
	for {
		files, _ := filepath.Glob(filepath.Join(o.StoreDir, "o.*.msg"))
		if len(files) >= n && (os.Getenv("CHILD_WAIT_ONLINE") == "" || p.Connected()) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("READY")
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is a publisher in a separate process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(t *testing.T, brokerURL, store string, count int, waitOnline bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_BROKER="+brokerURL, "CHILD_STORE="+store,
		"CHILD_COUNT="+strconv.Itoa(count))
	if waitOnline {
		cmd.Env = append(cmd.Env, "CHILD_WAIT_ONLINE=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			log, _ := os.ReadFile(stderr.Name())
			t.Logf("child log:\n%s", log)
		}
	})
	select {
	case <-ready:
	case <-c.done:
		log, _ := os.ReadFile(stderr.Name())
		t.Fatalf("child exited before READY:\n%s", log)
	case <-time.After(60 * time.Second):
		t.Fatal("child not READY within 60s")
	}
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

func (c *child) terminate(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not exit within 30s of SIGTERM")
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("child exited with %d after SIGTERM", code)
	}
}

// TestKilledWhileBrokerDownDeliversStore: a publisher that is killed with
// SIGKILL while the broker is down leaves its detections in the file
// store, and a new process with the same store and client id delivers
// them. This needs CleanSession(false) (paho wipes the store at connect
// otherwise) and a file store.
func TestKilledWhileBrokerDownDeliversStore(t *testing.T) {
	b, sub := sessionBroker(t, "kill-sub", mosquittotest.Config{})
	b.Stop()
	store := t.TempDir()
	const n = 30
	startChild(t, b.URL(), store, n, false).kill(t)
	if got := storedMessages(t, store); got != n {
		t.Fatalf("%d messages in the file store after SIGKILL, want %d", got, n)
	}

	b.Start()
	c := startChild(t, b.URL(), store, 0, true)
	sch := detectionSchema(t)
	sub.WaitFor(t, fmt.Sprintf("seqs 1..%d from the store", n), 30*time.Second, func(m []mosquittotest.Message) bool {
		set, _ := distinct(detectionSeqs(t, sch, m, "front"))
		return hasRun(set, 1, n)
	})
	c.terminate(t)
	if got := storedMessages(t, store); got != 0 {
		t.Errorf("%d messages left in the store after delivery and a clean stop", got)
	}
}

// TestLastWillOnKill: a publisher killed while connected is announced
// "offline" by the broker, with node and version, retained.
func TestLastWillOnKill(t *testing.T) {
	b := mosquittotest.Start(t, mosquittotest.Config{})
	c := startChild(t, b.URL(), t.TempDir(), 0, true)
	waitForRetained(t, b, StatusOnline)
	c.kill(t)
	st := waitForRetained(t, b, StatusOffline)
	if st.Node != testNode || st.Version != "child" {
		t.Errorf("will = %+v", st)
	}
}

// waitForRetained polls until the retained status has the given state.
func waitForRetained(t *testing.T, b *mosquittotest.Broker, state string) statusMsg {
	t.Helper()
	var st statusMsg
	waittest.For(t, "retained status "+state, 30*time.Second, func() bool {
		var ok bool
		st, ok = probeRetainedStatus(t, b)
		return ok && st.State == state
	})
	return st
}

// TestShutdownWhileBrokerDown: Run returns promptly although paho holds
// unacknowledged detections; they stay in the file store for the next
// start and are not counted as dropped.
func TestShutdownWhileBrokerDown(t *testing.T) {
	noLeaks(t)
	port := mosquittotest.ReservePort(t)
	o := testOptions(t, "tcp://127.0.0.1:"+strconv.Itoa(port))
	o.FlushTimeout = 2 * time.Second
	h := newHarness(t, o)
	stop := h.run(t)
	for seq := uint64(1); seq <= 4; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "four detections in the store", 10*time.Second, func() bool { return storedMessages(t, o.StoreDir) == 4 })
	start := time.Now()
	stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s with the broker down; want about the flush timeout at most", d)
	}
	if n := storedMessages(t, o.StoreDir); n != 4 {
		t.Errorf("%d messages in the store after shutdown, want 4", n)
	}
	if d := h.obs.droppedTotal(); d != 0 {
		t.Errorf("dropped %v", h.obs.dropped)
	}
	if l := h.logs.lines("stay in the MQTT file store"); len(l) != 1 || l[0]["count"] != float64(4) {
		t.Errorf("shutdown summary = %v", l)
	}
}

// failedToken is a paho token completed with an error.
type failedToken struct{ err error }

func (failedToken) Wait() bool                     { return true }
func (failedToken) WaitTimeout(time.Duration) bool { return true }
func (failedToken) Done() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
func (f failedToken) Error() error { return f.err }

// TestTokenErrorCountedNotRepublished: a detection whose token fails is
// counted and logged, and not handed to paho again (paho stored it before
// failing the token, so a retry would duplicate it).
func TestTokenErrorCountedNotRepublished(t *testing.T) {
	h := newHarness(t, testOptions(t, "tcp://127.0.0.1:1"))
	h.p.mu.Lock()
	h.p.inflight = 2
	h.p.mu.Unlock()
	for range 2 {
		h.p.completed(pendingToken{tok: failedToken{errors.New("publish was broken by timeout")}, kind: KindDetection, stream: "front", seq: 7})
	}
	if got := h.obs.get(func(r *recorder) int { return r.dropped[DropPublishError] }); got != 2 {
		t.Errorf("publish errors counted: %d, want 2", got)
	}
	h.p.mu.Lock()
	queued, inflight := len(h.p.queue), h.p.inflight
	h.p.mu.Unlock()
	if pending := h.obs.get(func(r *recorder) int { return r.pending }); queued != 0 || inflight != 0 || pending != 0 {
		t.Errorf("after two failed tokens: queued %d, in flight %d, pending %d; want all 0", queued, inflight, pending)
	}
	if n := len(h.logs.lines("not published again")); n != 1 {
		t.Errorf("%d lines for two identical token errors, want 1", n)
	}
}

// TestQoS0WhileDisconnectedIsCountedDrop: paho keeps nothing at QoS 0, so
// while the broker is unreachable such detections are dropped and
// counted, not handed to paho (where a token published before the first
// connection never completes).
func TestQoS0WhileDisconnectedIsCountedDrop(t *testing.T) {
	noLeaks(t)
	port := mosquittotest.ReservePort(t)
	o := testOptions(t, "tcp://127.0.0.1:"+strconv.Itoa(port))
	o.QoS = 0
	h := newHarness(t, o)
	stop := h.run(t)
	for seq := uint64(1); seq <= 3; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "three counted drops", 10*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.dropped[DropPublishError] }) == 3
	})
	if n := len(h.logs.lines("QoS 0 messages are not stored")); n != 1 {
		t.Errorf("%d lines for one burst, want 1", n)
	}
	b := mosquittotest.StartOn(t, port, mosquittotest.Config{})
	waittest.For(t, "the connection", 30*time.Second, h.p.Connected)
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "qos0-sub", Topics: []string{testPrefix + "/" + testNode + "/+/detections"},
	})
	h.p.Detection("front", 4, detectionPayload(t, "front", 4))
	sch := detectionSchema(t)
	sub.WaitFor(t, "seq 4", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(detectionSeqs(t, sch, m, "front")) == 1
	})
	waittest.For(t, "pending 0", 10*time.Second, func() bool { return h.obs.get(func(r *recorder) int { return r.pending }) == 0 })
	stop()
}
