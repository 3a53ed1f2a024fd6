package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/goleak"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/syncbuf"
)

const (
	testPrefix = "garssl"
	testNode   = "robot-7"
	testRunID  = "01JD5Z8Q3K9VTESTRUN0000000"
)

// recorder is an Observer that counts what it is told.
type recorder struct {
	mu          sync.Mutex
	published   map[string]int
	dropped     map[string]int
	commands    map[string]int
	pending     int
	maxPending  int
	connected   bool
	ups         int
	unconfirmed int
}

func newRecorder() *recorder {
	return &recorder{published: map[string]int{}, dropped: map[string]int{}, commands: map[string]int{}}
}

func (r *recorder) Published(kind string) { r.mu.Lock(); r.published[kind]++; r.mu.Unlock() }
func (r *recorder) Dropped(reason string) { r.mu.Lock(); r.dropped[reason]++; r.mu.Unlock() }
func (r *recorder) Command(res string)    { r.mu.Lock(); r.commands[res]++; r.mu.Unlock() }
func (r *recorder) Unconfirmed()          { r.mu.Lock(); r.unconfirmed++; r.mu.Unlock() }
func (r *recorder) Pending(n int) {
	r.mu.Lock()
	r.pending = n
	r.maxPending = max(r.maxPending, n)
	r.mu.Unlock()
}
func (r *recorder) Connected(up bool) {
	r.mu.Lock()
	r.connected = up
	if up {
		r.ups++
	}
	r.mu.Unlock()
}

func (r *recorder) get(f func(r *recorder) int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

func (r *recorder) droppedTotal() int {
	return r.get(func(r *recorder) int {
		n := 0
		for _, v := range r.dropped {
			n += v
		}
		return n
	})
}

// logBuffer collects JSON log lines for assertions.
type logBuffer struct{ syncbuf.Buffer }

// lines returns the decoded log lines whose message contains msg.
func (b *logBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(b.String(), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.Contains(fmt.Sprint(m["@message"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// harness is one Publisher under test with its observer and log.
type harness struct {
	p    *Publisher
	obs  *recorder
	logs *logBuffer
	opts Options
}

// testOptions are Options for a broker URL with a private store and a 1 s
// reconnect cap.
func testOptions(t *testing.T, brokerURL string) Options {
	return Options{
		Broker: brokerURL, ClientID: "garssld-" + testNode, QoS: 1,
		TopicPrefix: testPrefix, NodeID: testNode, Version: "test-1.0",
		StoreDir: t.TempDir(), MaxPending: 10000, MaxReconnectInterval: time.Second,
		FlushTimeout: 10 * time.Second, RunID: testRunID,
	}
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{obs: newRecorder(), logs: &logBuffer{}}
	o.Observer = h.obs
	o.Logger = hclog.New(&hclog.LoggerOptions{Name: "mqtt", Level: hclog.Debug, JSONFormat: true, Output: h.logs})
	h.opts = o
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("publisher log:\n%s", h.logs.String())
		}
	})
	return h
}

// run starts Run and returns a function that stops it and checks that it
// returned nil within 30 s. It is also called at cleanup.
func (h *harness) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// noLeaks makes the test fail if, once everything it started has been
// cleaned up (publishers stopped, subscribers closed, brokers stopped),
// goroutines started since this call are still running. Call it first, so
// that its cleanup runs last. paho's reconnect loop sleeps without a way
// to wake it, so it may take up to max_reconnect_interval (1 s in tests)
// plus the connect timeout (10 s, when a stopping broker accepted the TCP
// connection) to notice a Disconnect; the check polls for 20 s.
func noLeaks(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	t.Cleanup(func() { checkNoLeaks(t, baseline) })
}

func checkNoLeaks(t *testing.T, baseline goleak.Option) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := goleak.Find(baseline,
			goleak.IgnoreAnyFunction("github.com/garssl/garssld/internal/mosquittotest.(*Broker).start.func1"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines left behind after Run returned: %v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// detectionPayload is a real detection payload v1 for stream and seq.
func detectionPayload(t testing.TB, stream string, seq uint64) []byte {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * 3 * time.Second)
	d := gar.Detection{
		Schema: gar.DetectionSchemaName, Node: testNode, RunID: testRunID, Stream: stream, Seq: seq,
		Status: gar.StatusSilent,
		Window: gar.WindowInfo{Start: start, End: start.Add(3 * time.Second), PTSStartS: float64(seq * 3),
			PTSEndS: float64(seq*3 + 3), FramePTSS: float64(seq*3) + 1.5},
		Frame: gar.FrameInfo{Width: 1280, Height: 720, ModelWidth: 224, ModelHeight: 224},
		Audio: gar.AudioInfo{RMSDBFS: -75},
		GAR:   gar.GARInfo{AnalysisTrials: 5, TauAV: 0.5, TauAudio: 0.75, Model: "Qwen/Qwen2.5-Omni-7B"},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// detectionSchema compiles gar's detection payload schema.
func detectionSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gar.DetectionSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem:///detection.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem:///detection.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// detectionSeqs validates every detection message against the schema and
// returns the seqs received for stream, in arrival order.
func detectionSeqs(t *testing.T, sch *jsonschema.Schema, msgs []mosquittotest.Message, stream string) []uint64 {
	t.Helper()
	var seqs []uint64
	topic := testPrefix + "/" + testNode + "/" + stream + "/detections"
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Payload))
		if err != nil {
			t.Fatalf("detection is not JSON: %v", err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Fatalf("detection does not validate: %v\n%s", err, m.Payload)
		}
		var d struct {
			Seq    uint64 `json:"seq"`
			RunID  string `json:"run_id"`
			Stream string `json:"stream"`
		}
		if err := json.Unmarshal(m.Payload, &d); err != nil || d.Stream != stream || d.RunID != testRunID {
			t.Fatalf("detection %s: %v", m.Payload, err)
		}
		seqs = append(seqs, d.Seq)
	}
	return seqs
}

// distinct returns the set of seqs and how many were duplicates.
func distinct(seqs []uint64) (set map[uint64]bool, dups int) {
	set = make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		if set[s] {
			dups++
		}
		set[s] = true
	}
	return set, dups
}

// hasRun reports whether set is exactly {from, …, to}.
func hasRun(set map[uint64]bool, from, to uint64) bool {
	if uint64(len(set)) != to-from+1 {
		return false
	}
	for s := from; s <= to; s++ {
		if !set[s] {
			return false
		}
	}
	return true
}

// sessionBroker starts a persistent broker and a persistent QoS 1
// subscriber to every detections topic of the test node, so that
// messages published while the subscriber is away are queued for it.
func sessionBroker(t *testing.T, clientID string, cfg mosquittotest.Config) (*mosquittotest.Broker, *mosquittotest.Subscriber) {
	t.Helper()
	cfg.Persistence = true
	b := mosquittotest.Start(t, cfg)
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: clientID, Persistent: true, QoS: 1,
		Topics: []string{testPrefix + "/" + testNode + "/+/detections"},
	})
	return b, sub
}

// publishRaw publishes one QoS 1 message with mosquitto_pub, which waits
// for the broker's acknowledgement.
func publishRaw(t *testing.T, b *mosquittotest.Broker, topic string, retained bool, payload string) {
	t.Helper()
	b.Publish(t, topic, retained, payload)
}
