package publish

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsCheck(t *testing.T) {
	good := func() Options {
		return Options{Broker: "tcp://127.0.0.1:1883", ClientID: "c", QoS: 1, TopicPrefix: "p", NodeID: "n",
			StoreDir: "/tmp/x", MaxPending: 10, MaxReconnectInterval: time.Second}
	}
	if err := (&Options{}).check(); err == nil {
		t.Fatal("zero Options accepted")
	}
	o := good()
	if err := o.check(); err != nil {
		t.Fatalf("good options: %v", err)
	}
	tests := []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.ClientID = "" }, "client id is empty"},
		{func(o *Options) { o.QoS = 3 }, "qos 3"},
		{func(o *Options) { o.NodeID = "" }, "node id"},
		{func(o *Options) { o.StoreDir = "" }, "store dir"},
		{func(o *Options) { o.MaxPending = 0 }, "max pending 0"},
		{func(o *Options) { o.MaxPending = 65000 }, "max pending 65000"},
		{func(o *Options) { o.MaxReconnectInterval = 0 }, "max reconnect interval"},
		{func(o *Options) { o.FlushTimeout = -time.Second }, "flush timeout"},
		{func(o *Options) { o.Broker = "" }, "broker"},
	}
	for _, tt := range tests {
		o := good()
		tt.mod(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("check() = %v, want an error containing %q", err, tt.want)
		}
	}
}

func TestTopics(t *testing.T) {
	tp := newTopics("fleet/garssl", "robot-7")
	if got := tp.detections("front"); got != "fleet/garssl/robot-7/front/detections" {
		t.Errorf("detections topic %q", got)
	}
	for topic, want := range map[string]string{
		"fleet/garssl/robot-7/front/set":   "front",
		"fleet/garssl/robot-7/set":         "",
		"fleet/garssl/robot-7/a/b/set":     "",
		"fleet/garssl/robot-8/front/set":   "",
		"fleet/garssl/robot-7/front/state": "",
	} {
		got, ok := tp.streamOfSet(topic)
		if got != want || ok != (want != "") {
			t.Errorf("streamOfSet(%q) = %q, %v", topic, got, ok)
		}
	}
	for topic, want := range map[string]bool{
		"fleet/garssl/robot-7/status":           true,
		"fleet/garssl/robot-7/front/state":      true,
		"fleet/garssl/robot-7/front/detections": false,
		"fleet/garssl/robot-7/a/b/state":        false,
		"fleet/garssl/robot-8/front/state":      false,
	} {
		if got := tp.isLatest(topic); got != want {
			t.Errorf("isLatest(%q) = %v", topic, got)
		}
	}
	if got := redactBroker("mqtts://user:secret@broker:8883"); got != "mqtts://broker:8883" {
		t.Errorf("redactBroker = %q", got)
	}
}

// BenchmarkEnqueue measures what capture and the scheduler pay per call:
// Detection and StreamState only take a lock and append. Baseline is a
// send on a buffered channel that a goroutine drains, the usual hand-off
// between goroutines.
func BenchmarkEnqueue(b *testing.B) {
	payload := detectionPayload(b, "front", 1)
	b.Run("baseline=chan-send", func(b *testing.B) {
		ch := make(chan []byte, 10000)
		done := make(chan struct{})
		go func() {
			for range ch {
			}
			close(done)
		}()
		for b.Loop() {
			ch <- payload
		}
		close(ch)
		<-done
	})
	b.Run("Detection", func(b *testing.B) {
		o := Options{Broker: "tcp://127.0.0.1:1", ClientID: "bench", QoS: 1, TopicPrefix: "garssl", NodeID: "n",
			StoreDir: b.TempDir(), MaxPending: 10000, MaxReconnectInterval: time.Second}
		p, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		seq := uint64(0)
		for b.Loop() {
			seq++
			p.Detection("front", seq, payload) // past 10000 this is the drop-oldest path
		}
	})
	b.Run("StreamState", func(b *testing.B) {
		o := Options{Broker: "tcp://127.0.0.1:1", ClientID: "bench", QoS: 1, TopicPrefix: "garssl", NodeID: "n",
			StoreDir: b.TempDir(), MaxPending: 10000, MaxReconnectInterval: time.Second}
		p, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			p.StreamState("front", "running", "", 0)
		}
	})
}
