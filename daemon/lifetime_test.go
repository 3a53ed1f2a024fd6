package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// No goroutine outlives Run: after a run that paused and resumed a
// stream, reloaded (a restarted stream, a new model client and scheduler,
// a new publisher) and stopped, nothing the daemon started is left.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "leak")
	s := startSim(t, 0)
	baseline := goleak.IgnoreCurrent()
	base := setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4}
	var mu sync.Mutex
	var tasks []*task
	r := startDaemon(t, configText(base, streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{
		onTask: func(tk *task) { mu.Lock(); tasks = append(tasks, tk); mu.Unlock() },
	})
	waittest.For(t, "detections", 30*time.Second, func() bool { return len(detections(t, sub.Messages(), "front")) >= 2 })
	b.Publish(t, topic("front", "set"), false, `{"enabled": false}`)
	waittest.For(t, "paused", 30*time.Second, func() bool { return seenState(sub.Messages(), "front", statePaused, 0) })
	n := len(states(sub.Messages(), "front"))
	b.Publish(t, topic("front", "set"), false, `{"enabled": true}`)
	waittest.For(t, "running", 30*time.Second, func() bool { return seenState(sub.Messages(), "front", "running", n) })
	next := base
	next.maxInFlight = 2
	next.extraMQTT = []string{"max_pending = 500"}
	r.reload(t, configText(next, streamSpec{name: "front", input: clip, window: "2s", extra: []string{"loop = true"}}))
	n = len(detections(t, sub.Messages(), "front"))
	waittest.For(t, "detections after the reload", 30*time.Second, func() bool { return len(detections(t, sub.Messages(), "front")) > n+1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// Every task the daemon started, replaced ones included, had ended
	// when Run returned: its owner waited for it.
	mu.Lock()
	for _, tk := range tasks {
		if ended, _ := tk.ended(); !ended {
			t.Errorf("task %q still runs after Run returned", tk.name)
		}
	}
	if len(tasks) < 8 {
		t.Errorf("only %d tasks seen; the reload should have replaced some", len(tasks))
	}
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := goleak.Find(append([]goleak.Option{baseline}, leakOptions...)...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines outlive Run: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SIGTERM while windows are at the model: capture stops, /readyz says the
// daemon is shutting down, the windows finish and are published, then
// "stopped", and Run returns nil.
func TestShutdownFinishesWindowsInFlight(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "shutdown")
	s := startSim(t, 2) // several seconds per window
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), shutdownTimeout: "60s", maxQueue: 4},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	waittest.For(t, "a window at the model", 30*time.Second, func() bool { return len(r.logs.lines("window started")) > 0 })
	started := len(r.logs.lines("window started"))
	r.signals <- syscall.SIGTERM
	waittest.For(t, "/readyz to say the daemon stops", 30*time.Second, func() bool {
		rep := r.ready(t)
		return !rep.Ready && strings.Contains(strings.Join(rep.Reasons, ";"), "shutting down")
	})
	select {
	case err := <-r.done:
		r.done = nil
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("Run did not return")
	}
	// Run returned after the publisher had flushed and disconnected.
	if logs := r.logs.String(); strings.Index(logs, "disconnected from the MQTT broker") > strings.Index(logs, "garssld stopped") {
		t.Errorf("Run returned before the publisher had disconnected")
	}
	ds := detections(t, sub.Messages(), "front")
	sub.WaitFor(t, "the stopped status", 30*time.Second, func(m []mosquittotest.Message) bool { return seenStatus(t, m, "stopped") })
	published := map[uint64]bool{}
	for _, d := range detections(t, sub.Messages(), "front") {
		published[d.Seq] = true
		if d.Status != gar.StatusOK {
			t.Errorf("seq %d finished during shutdown as %s", d.Seq, d.Status)
		}
	}
	if len(published) < started {
		t.Errorf("%d windows started, %d published (%d before the shutdown)", started, len(published), len(ds))
	}
	if got := r.systemd.messages(); !strings.HasPrefix(got[len(got)-1], "STOPPING=1") && !slicesContainPrefix(got, "STOPPING=1") {
		t.Errorf("no STOPPING=1: %q", got)
	}
}

func slicesContainPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// Start-up failures are told apart: a port in use is a runtime failure
// (exit 1, systemd retries); a TLS key pair that does not parse is a
// ConfigError (exit 2, systemd does not).
func TestNewReportsWhatStopsItFromStarting(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	text := configText(setup{broker: "tcp://127.0.0.1:1", endpoint: "http://127.0.0.1:1/v1", storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "front", input: clip})
	cfg, err := config.Parse([]byte(text), "t.hcl")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = ln.Addr().String()
	_, err = New(Options{Config: cfg})
	var ce ConfigError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "another process") {
		t.Errorf("New with http.listen taken = %v; want a runtime error saying another process holds it", err)
	}

	bad := filepath.Join(dir, "not-a-cert.pem")
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Broker = "ssl://127.0.0.1:1"
	cfg.MQTT.TLS = &config.TLS{CertFile: bad, KeyFile: bad}
	_, err = New(Options{Config: cfg})
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "cert_file") {
		t.Errorf("New with a TLS pair that does not parse = %v; want a ConfigError naming cert_file", err)
	}
}
