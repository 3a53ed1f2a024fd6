package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/testmedia"
)

// runConfig is a config for `garssld run` against broker and endpoint,
// with one stream on input.
func runConfig(t *testing.T, dir, broker, endpoint, input string, extra ...string) string {
	t.Helper()
	text := fmt.Sprintf(`node_id = "robot-c"
shutdown_timeout = "5s"
mllm {
  endpoints = [%q]
}
mqtt {
  broker = %q
  store_dir = %q
  max_reconnect_interval = "1s"
}
http {
  listen = "127.0.0.1:0"
}
stream "front" {
  input = %q
  window = "1s"
  hop = "1s"
  max_queue = 4
  loop = true
%s}
`, endpoint, broker, filepath.Join(dir, "store"), input, strings.Join(extra, "\n"))
	path := filepath.Join(dir, "garssld.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runClip(t *testing.T, dir string) string {
	t.Helper()
	return testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 3),
		testmedia.Sine(0.5, 440, 48000, 1, 3), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
}

// Exit codes of `garssld run` that need no running daemon.
func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	clip := runClip(t, dir)
	good := runConfig(t, dir, "tcp://127.0.0.1:1", "http://127.0.0.1:1/v1", clip)
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("stream \"front\" {\n  input = \"rtsp://cam/1\"\n  loop = true\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := filepath.Join(dir, "taken.hcl")
	src, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(taken, bytes.Replace(src, []byte("127.0.0.1:0"), []byte(ln.Addr().String()), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsCfg := filepath.Join(dir, "tls.hcl")
	withTLS := bytes.Replace(src, []byte("tcp://127.0.0.1:1\""), []byte(fmt.Sprintf("ssl://127.0.0.1:1\"\n  tls {\n    cert_file = %q\n    key_file = %q\n  }", notPEM, notPEM)), 1)
	if err := os.WriteFile(tlsCfg, withTLS, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no config", []string{"run"}, 2, "usage: garssld run --config FILE"},
		{"missing file", []string{"run", "--config", filepath.Join(dir, "nope.hcl")}, 2, "nope.hcl"},
		{"invalid config", []string{"run", "--config", bad}, 2, bad + ":3:10: stream.front.loop = true works only for file inputs"},
		{"bad log level", []string{"run", "--config", good, "--log-level", "loud"}, 2, `--log-level "loud" is not one of`},
		{"port in use", []string{"run", "--config", taken}, 1, "another process"},
		{"TLS files that do not parse", []string{"run", "--config", tlsCfg}, 2, "cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\n%s", code, tc.code, tc.inStderr, stderr)
			}
		})
	}
}

// daemonProc is `garssld run` in a process of its own.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr string // file
	done   chan struct{}
}

func startChild(t *testing.T, dir string, args ...string) *daemonProc {
	t.Helper()
	stderr := filepath.Join(dir, fmt.Sprintf("garssld-%d.log", time.Now().UnixNano()))
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The test binary re-executed with GARSSLD_TEST_MAIN=1 is garssld
	// (TestMain).
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GARSSLD_TEST_MAIN=1", "NOTIFY_SOCKET=", "WATCHDOG_USEC=")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &daemonProc{cmd: cmd, stderr: stderr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			b, _ := os.ReadFile(stderr)
			t.Logf("garssld log:\n%s", b)
		}
	})
	return c
}

// logLines decodes the child's JSON log lines whose message contains msg.
func (c *daemonProc) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(c.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && strings.Contains(fmt.Sprint(m["@message"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// httpAddr waits for the child to say where it serves /metrics.
func (c *daemonProc) httpAddr(t *testing.T) string {
	t.Helper()
	waitUntil(t, "garssld to run", 60*time.Second, func() bool { return len(c.logLines(t, "garssld is running")) > 0 })
	return fmt.Sprint(c.logLines(t, "garssld is running")[0]["http"])
}

func (c *daemonProc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("garssld did not exit within %s", within)
		return -1
	}
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The real program: JSON logs when stderr is not a terminal, `garssld
// status` against it, SIGHUP reloads, SIGTERM stops it with exit 0 after
// publishing "stopped".
func TestRunAsAProcess(t *testing.T) {
	dir := t.TempDir()
	clip := runClip(t, dir)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{ClientID: "proc", QoS: 1, Topics: []string{"garssl/robot-c/#"}})
	cfg := runConfig(t, dir, b.URL(), omnisimEndpoint(t), clip)
	c := startChild(t, dir, "run", "--config", cfg)
	addr := c.httpAddr(t)
	sub.WaitFor(t, "detections", 60*time.Second, func(m []mosquittotest.Message) bool {
		n := 0
		for _, msg := range m {
			if msg.Topic == "garssl/robot-c/front/detections" {
				n++
			}
		}
		return n >= 2
	})
	code, out, stderr := run(t, "status", "--http", addr)
	if code != 0 || !strings.Contains(out, "front") || !strings.Contains(out, "running") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, stderr)
	}

	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload", 30*time.Second, func() bool { return len(c.logLines(t, "config reloaded")) > 0 })
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	sub.WaitFor(t, "the stopped status", 30*time.Second, func(m []mosquittotest.Message) bool {
		last := ""
		for _, msg := range m {
			if msg.Topic == "garssl/robot-c/status" {
				last = string(msg.Payload)
			}
		}
		return strings.Contains(last, `"state":"stopped"`)
	})
}

// The daemon is killed with SIGKILL while the broker is down; started
// again with the broker up, it delivers the detections its file store
// kept: the first run's, by its run_id.
func TestKilledWhileTheBrokerIsDownDeliversItsStore(t *testing.T) {
	dir := t.TempDir()
	clip := runClip(t, dir)
	b := mosquittotest.Start(t, mosquittotest.Config{Persistence: true})
	sub := mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: "kill", Persistent: true, QoS: 1, Topics: []string{"garssl/robot-c/+/detections"}})
	b.Stop()
	cfg := runConfig(t, dir, b.URL(), omnisimEndpoint(t), clip)
	first := startChild(t, dir, "run", "--config", cfg)
	first.httpAddr(t)
	firstRun := fmt.Sprint(first.logLines(t, "garssld is running")[0]["run_id"])
	// The detections in the store; track events are stored there too.
	stored := func() int {
		files, _ := filepath.Glob(filepath.Join(dir, "store", "o.*.msg"))
		n := 0
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(`"garssl.detection/v1"`)) {
				n++
			}
		}
		return n
	}
	waitUntil(t, "detections in the file store", 60*time.Second, func() bool { return stored() >= 3 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.exitCode(t, 30*time.Second)
	kept := stored()
	if kept < 3 {
		t.Fatalf("%d messages in the store after SIGKILL", kept)
	}

	b.Start()
	second := startChild(t, dir, "run", "--config", cfg)
	second.httpAddr(t)
	runs := func(m []mosquittotest.Message) map[string]map[uint64]bool {
		out := map[string]map[uint64]bool{}
		for _, msg := range m {
			var d struct {
				RunID string `json:"run_id"`
				Seq   uint64 `json:"seq"`
			}
			if json.Unmarshal(msg.Payload, &d) != nil {
				continue
			}
			if out[d.RunID] == nil {
				out[d.RunID] = map[uint64]bool{}
			}
			out[d.RunID][d.Seq] = true
		}
		return out
	}
	sub.WaitFor(t, "the first run's stored detections and the second run's own", 60*time.Second, func(m []mosquittotest.Message) bool {
		r := runs(m)
		return len(r[firstRun]) >= kept && len(r) >= 2
	})
	got := runs(sub.Messages())[firstRun]
	for seq := uint64(1); seq <= uint64(len(got)); seq++ {
		if !got[seq] {
			t.Errorf("the first run's seqs %v are not 1..%d", got, len(got))
			break
		}
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// omnisimEndpoint serves omnisim without its latency model for one test and
// returns its base URL.
func omnisimEndpoint(t *testing.T) string {
	t.Helper()
	_, endpoint := startSim(t, "", nil)
	return endpoint
}
