package publish

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		enabled bool
		wantErr string
	}{
		{in: `{"enabled":false}`, enabled: false},
		{in: ` {"enabled": true} `, enabled: true},
		{in: "{\"enabled\":true}\n", enabled: true},
		{in: ``, wantErr: "not {"},
		{in: `garbage`, wantErr: "not {"},
		{in: `{"enabled":"false"}`, wantErr: "not {"},
		{in: `{"enabled":1}`, wantErr: "not {"},
		{in: `{"enable":false}`, wantErr: "not {"},
		{in: `{"enabled":false,"x":1}`, wantErr: "not {"},
		{in: `{}`, wantErr: `lacks "enabled"`},
		{in: `{"enabled":null}`, wantErr: `lacks "enabled"`},
		{in: `null`, wantErr: `lacks "enabled"`},
		{in: `[true]`, wantErr: "not {"},
		{in: `{"enabled":true}{"enabled":false}`, wantErr: "data after"},
		{in: `{"enabled":true} x`, wantErr: "data after"},
		{in: `{"enabled":true,"pad":"` + strings.Repeat("x", 2000) + `"}`, wantErr: "bytes"},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.in))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseCommand(%q): %v", tt.in, err)
		case tt.wantErr == "" && got.Enabled != tt.enabled:
			t.Errorf("ParseCommand(%q) = %+v", tt.in, got)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseCommand(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

// FuzzParseCommand: the parser never panics, and what it accepts is one
// JSON object whose only member is a boolean "enabled" with the value it
// returned.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"enabled":false}`, `{"enabled":true}`, `{"Enabled":true}`, `{}`, `null`, `{"enabled":true}{}`,
		`{"enabled":false,"enabled":true}`, "\xff", `{"enabled":tru`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cmd, err := ParseCommand(payload)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(payload, &m) != nil {
			t.Fatalf("accepted %q, which is not a JSON object", payload)
		}
		if len(m) != 1 {
			t.Fatalf("accepted %q with %d distinct members", payload, len(m))
		}
		for k, v := range m {
			var b bool
			if !strings.EqualFold(k, "enabled") || json.Unmarshal(v, &b) != nil || b != cmd.Enabled {
				t.Fatalf("accepted %q as enabled=%v", payload, cmd.Enabled)
			}
		}
	})
}

// setRecorder records OnSet calls; block, when set, holds OnSet until
// closed.
type setRecorder struct {
	mu    sync.Mutex
	calls []string
	block chan struct{}
}

func (s *setRecorder) onSet(stream string, enabled bool) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, stream+"="+map[bool]string{true: "on", false: "off"}[enabled])
}

func (s *setRecorder) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// TestSetCommands: a retained command present at start is ignored, live
// commands reach OnSet (which, like the daemon, publishes the paused
// state), and malformed commands and unknown streams are counted and
// logged without effect.
func TestSetCommands(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	setTopic := func(stream string) string { return testPrefix + "/" + testNode + "/" + stream + "/set" }
	publishRaw(t, b, setTopic("front"), true, `{"enabled":false}`)

	sets := &setRecorder{}
	o := testOptions(t, b.URL())
	var h *harness
	o.OnSet = func(stream string, enabled bool) {
		sets.onSet(stream, enabled)
		h.p.StreamState(stream, map[bool]string{true: "running", false: "paused"}[enabled], "", 0)
	}
	h = newHarness(t, o)
	h.p.SetStreams([]string{"front"})
	h.run(t)
	commands := func(result string) func() bool {
		return func() bool { return h.obs.get(func(r *recorder) int { return r.commands[result] }) > 0 }
	}
	waittest.For(t, "the retained command to be seen", 20*time.Second, commands(CommandIgnoredRetained))
	if calls := sets.get(); len(calls) != 0 {
		t.Fatalf("retained command applied: %v", calls)
	}

	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "state-watch", QoS: 1, Topics: []string{testPrefix + "/" + testNode + "/front/state"},
	})
	publishRaw(t, b, setTopic("front"), false, `{"enabled":false}`)
	sub.WaitFor(t, "the paused state", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && string(m[len(m)-1].Payload) == `{"state":"paused","error":null}`
	})
	publishRaw(t, b, setTopic("front"), false, `{"enabled":true}`)
	sub.WaitFor(t, "the running state", 20*time.Second, func(m []mosquittotest.Message) bool {
		return len(m) > 0 && string(m[len(m)-1].Payload) == `{"state":"running","error":null}`
	})
	if calls := sets.get(); strings.Join(calls, ",") != "front=off,front=on" {
		t.Errorf("OnSet calls = %v", calls)
	}

	for _, bad := range []string{`garbage`, `{"enabled":"no"}`, `{"enable":false}`} {
		publishRaw(t, b, setTopic("front"), false, bad)
	}
	publishRaw(t, b, setTopic("rear"), false, `{"enabled":false}`)
	waittest.For(t, "three malformed commands", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.commands[CommandMalformed] }) == 3
	})
	waittest.For(t, "the unknown stream", 20*time.Second, commands(CommandUnknownStream))
	if got := h.obs.get(func(r *recorder) int { return r.commands[CommandReceived] }); got != 2 {
		t.Errorf("applied %d commands, want 2", got)
	}
	if calls := sets.get(); len(calls) != 2 {
		t.Errorf("OnSet calls = %v", calls)
	}
	if n := len(h.logs.lines("malformed set command")); n != 1 {
		t.Errorf("%d lines for three malformed commands on one stream; want them folded into 1", n)
	}
	if !h.p.Connected() {
		t.Error("disconnected after bad commands")
	}
}

// TestSlowOnSetDoesNotStallPublishing: OnSet runs off paho's goroutines,
// so a daemon that takes its time pausing a stream holds up neither
// further commands' delivery nor the acknowledgements of detections.
func TestSlowOnSetDoesNotStallPublishing(t *testing.T) {
	noLeaks(t)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sets := &setRecorder{block: make(chan struct{})}
	o := testOptions(t, b.URL())
	o.OnSet = sets.onSet
	h := newHarness(t, o)
	h.p.SetStreams([]string{"front", "rear"})
	stop := h.run(t)
	waitSubscribed(t, h, b)
	for i, stream := range []string{"front", "rear", "front"} {
		publishRaw(t, b, testPrefix+"/"+testNode+"/"+stream+"/set", false, []string{`{"enabled":false}`, `{"enabled":false}`, `{"enabled":true}`}[i])
	}
	waittest.For(t, "three commands", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.commands[CommandReceived] }) == 3
	})
	for seq := uint64(1); seq <= 10; seq++ {
		h.p.Detection("front", seq, detectionPayload(t, "front", seq))
	}
	waittest.For(t, "ten acknowledged detections while OnSet is blocked", 20*time.Second, func() bool {
		return h.obs.get(func(r *recorder) int { return r.published[KindDetection] }) == 10
	})
	close(sets.block)
	// The latest command per stream wins: front ends enabled, a second
	// after its first command was applied.
	waittest.For(t, "OnSet to catch up", 20*time.Second, func() bool { return strings.Contains(strings.Join(sets.get(), ","), "front=on") })
	stop()
}

// waitSubscribed sends commands for an unknown stream until the publisher
// counts one, which shows that its subscription is in place.
func waitSubscribed(t *testing.T, h *harness, b *mosquittotest.Broker) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.obs.get(func(r *recorder) int { return r.commands[CommandUnknownStream] }) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the publisher did not subscribe to set topics within 30s")
		}
		publishRaw(t, b, testPrefix+"/"+testNode+"/probe/set", false, `{"enabled":true}`)
		time.Sleep(200 * time.Millisecond)
	}
}
