package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/schematest"
)

// exampleDetection is the README's example payload.
func exampleDetection(t *testing.T) []byte {
	t.Helper()
	blocks := fenced(section(t, readme(t), "MQTT topics"), "json")
	if len(blocks) != 1 {
		t.Fatalf("README's MQTT section has %d json blocks, want the one example detection", len(blocks))
	}
	return []byte(blocks[0])
}

func TestReadmeDetectionExampleIsValid(t *testing.T) {
	schema, err := os.ReadFile(filepath.Join(repoRoot, "gar", "detection.v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := schematest.Validate(schematest.Compile(t, schema), exampleDetection(t)); err != nil {
		t.Errorf("README's example detection does not validate against gar/detection.v1.schema.json: %v", err)
	}
}

// python is Debian's interpreter, which has python3-paho-mqtt from make
// deps; another python3 on PATH (pyenv, a venv) may lack it.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("python3 is missing; run make deps")
	return ""
}

// lineWatcher is a process's stdout: it collects whole lines and lets a
// test wait for one.
type lineWatcher struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	added   chan struct{}
}

func newLineWatcher() *lineWatcher { return &lineWatcher{added: make(chan struct{}, 1)} }

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	w.mu.Unlock()
	select {
	case w.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *lineWatcher) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// waitFor waits until a line from the from-th on starts with prefix, or
// the deadline passes.
func (w *lineWatcher) waitFor(from int, prefix string, d time.Duration) bool {
	deadline := time.After(d)
	for {
		lines := w.snapshot()
		for _, l := range lines[min(from, len(lines)):] {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		select {
		case <-w.added:
		case <-deadline:
			return false
		}
	}
}

// tail keeps the last lines of a process's output for a failure message.
func tail(lines []string) []string { return lines[max(0, len(lines)-10):] }

// TestReadmePythonSubscriberDropsDuplicates runs the README's Python
// subscriber against a real mosquitto and sends it detections, some twice,
// as a redelivery after a reconnect would: it must print each detection
// once, and a new run_id with an old seq is a new detection.
func TestReadmePythonSubscriberDropsDuplicates(t *testing.T) {
	blocks := fenced(section(t, readme(t), "Subscribing from HRI"), "python")
	if len(blocks) != 1 {
		t.Fatalf("README's subscriber section has %d python blocks, want 1", len(blocks))
	}
	script := filepath.Join(t.TempDir(), "subscriber.py")
	if err := os.WriteFile(script, []byte(blocks[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	py := python(t)
	if out, err := exec.Command(py, "-c", "import paho.mqtt.client").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import paho.mqtt.client (install python3-paho-mqtt: make deps): %v\n%s", py, err, out)
	}

	broker := mosquittotest.Start(t, mosquittotest.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, py, "-u", script)
	cmd.Env = append(os.Environ(), "GARSSL_BROKER_HOST=127.0.0.1", "GARSSL_BROKER_PORT="+strconv.Itoa(broker.Port()))
	out := newLineWatcher()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("docs-test-publisher"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(100) })
	base := exampleDetection(t)
	send := func(runID, stream string, seq int) {
		t.Helper()
		var d map[string]any
		if err := json.Unmarshal(base, &d); err != nil {
			t.Fatal(err)
		}
		d["run_id"], d["stream"], d["seq"], d["status"] = runID, stream, seq, "ok"
		payload, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		tok := pub.Publish("garssl/robot-7/"+stream+"/detections", 1, false, payload)
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}

	// The script subscribes once it has connected; detections sent before
	// that are lost, so send warm-up ones until one shows.
	warm := false
	warmUntil := time.Now().Add(2 * time.Minute)
	for i := 1; !warm && time.Now().Before(warmUntil); i++ {
		select {
		case <-exited:
			t.Fatalf("the subscriber exited; stdout %q, stderr:\n%s", tail(out.snapshot()), stderr.String())
		default:
		}
		send("WARMUP", "front", i)
		warm = out.waitFor(0, "front "+strconv.Itoa(i)+" ok", time.Second)
	}
	if !warm {
		t.Fatalf("the subscriber printed no warm-up detection within 2 minutes; stdout %q, stderr:\n%s", tail(out.snapshot()), stderr.String())
	}

	before := len(out.snapshot())
	send("RUN1", "front", 1)
	send("RUN1", "front", 2)
	send("RUN1", "front", 1) // redelivered
	send("RUN1", "back", 1)  // another stream: another detection
	send("RUN2", "front", 1) // a restarted daemon counts from 1 again
	send("RUN1", "front", 2) // redelivered
	send("RUN2", "front", 3) // last: paho hands messages over in order, so once it shows all were handled
	if !out.waitFor(before, "front 3 ok", 30*time.Second) {
		t.Fatalf("no output for the last detection; stdout %q, stderr:\n%s", tail(out.snapshot()), stderr.String())
	}
	got := out.snapshot()[before:]
	// One line per detection key: stream, seq and status lead each line
	// (the run_id is not printed), in arrival order.
	var heads []string
	for _, l := range got {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("unexpected subscriber line %q", l)
		}
		heads = append(heads, strings.Join(f[:3], " "))
	}
	want := []string{"front 1 ok", "front 2 ok", "back 1 ok", "front 1 ok", "front 3 ok"}
	if fmt.Sprint(heads) != fmt.Sprint(want) {
		t.Errorf("subscriber printed %q\nwant one line per detection, duplicates dropped: %q", got, want)
	}
	if !strings.Contains(got[0], "'beeping', [411, 90, 485, 160]") {
		t.Errorf("subscriber line %q lacks the label and box of the detection", got[0])
	}
}
