package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/metrics"
)

// fakeDaemon serves the real health handlers over the real metrics, with
// readiness inputs the test changes.
type fakeDaemon struct {
	url   string
	m     *metrics.Metrics
	watch *health.ModelWatch

	mu        sync.Mutex
	connected bool
	streams   map[string]string
	hung      []string
}

func startFakeDaemon(t *testing.T, at time.Time) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{streams: map[string]string{"front": "running", "back": "reconnecting"}}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{
		Version: "v0.9.1",
		Now:     func() time.Time { return at },
		Streams: func() []metrics.StreamSnapshot {
			d.mu.Lock()
			defer d.mu.Unlock()
			var snaps []metrics.StreamSnapshot
			for name, state := range d.streams {
				s := metrics.StreamSnapshot{Stream: name, State: state}
				if name == "back" {
					s.Reconnects = 4
				}
				snaps = append(snaps, s)
			}
			return snaps
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.m = m
	model := m.Model()
	m.UseModel(model)
	d.watch = health.NewModelWatch(model)
	srv := httptest.NewServer(health.Handler(health.Config{
		Gatherer: reg,
		Ready: func() health.Readiness {
			d.mu.Lock()
			defer d.mu.Unlock()
			streams := map[string]string{}
			for k, v := range d.streams {
				streams[k] = v
			}
			return health.Readiness{MQTTConnected: d.connected, Streams: streams, Endpoints: d.watch.Endpoints()}
		},
		Hung: func() []string {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.hung
		},
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func TestStatus(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)
	statusNow = func() time.Time { return at.Add(2345 * time.Millisecond) }
	t.Cleanup(func() { statusNow = time.Now })

	d := startFakeDaemon(t, at)
	d.watch.BreakerState("http://gpu-1:8000/v1", mllm.BreakerClosed)
	d.watch.BreakerState("http://gpu-2:8000/v1", mllm.BreakerOpen)
	for range 3 {
		d.m.WindowDone("front", "ok")
	}
	d.m.Dropped("front", "stale")
	d.m.AgeAtPublish("front", 3*time.Second)
	d.m.Tracks("front", 2)
	mq := d.m.MQTT()
	mq.Pending(12)
	mq.Dropped("max_pending")
	mq.Dropped("max_pending")

	code, stdout, stderr := run(t, "status", "--http", d.url)
	if code != 0 {
		t.Fatalf("exit %d, want 0 for a reachable daemon that is not ready\n%s", code, stderr)
	}
	want := `garssld v0.9.1 at ` + d.url + `: NOT READY
  - mqtt: not connected to the broker

MQTT: disconnected, 12 messages pending, 2 dropped since start

Streams:
  STREAM  STATE         LAST RESULT  RESULTS  DROPPED  RECONNECTS  TRACKS
  back    reconnecting  never        0        0        4           0
  front   running       2.3s ago     3        1        0           2

Model endpoints:
  ENDPOINT              BREAKER  4XX IN A ROW
  http://gpu-1:8000/v1  closed   0
  http://gpu-2:8000/v1  open     0
`
	if stdout != want {
		t.Errorf("status output:\n%s\nwant:\n%s", stdout, want)
	}

	// Connected, and the only usable endpoint refuses every request.
	d.mu.Lock()
	d.connected = true
	d.mu.Unlock()
	for range health.RefusalThreshold {
		d.watch.Request("http://gpu-1:8000/v1", "locate", mllm.ResultHTTP4xx, time.Millisecond)
	}
	code, stdout, _ = run(t, "status", "--http", strings.TrimPrefix(d.url, "http://"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, line := range []string{
		"NOT READY\n  - model: no usable endpoint: http://gpu-1:8000/v1 refuses requests (3 4xx answers in a row; check mllm.api_key_file and mllm.model)",
		"MQTT: connected, 12 messages pending",
		"  http://gpu-1:8000/v1  closed   3  refusing requests\n",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("status output lacks %q:\n%s", line, stdout)
		}
	}

	// The other endpoint cannot take the sound: misconfigured, with its fix.
	d.watch.EndpointProblem("http://gpu-2:8000/v1", `run pip install "vllm[audio]"`)
	d.watch.BreakerState("http://gpu-2:8000/v1", mllm.BreakerClosed)
	code, stdout, _ = run(t, "status", "--http", d.url)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, line := range []string{
		`http://gpu-2:8000/v1 is misconfigured: it cannot take the images or audio garssld sends; fix: run pip install "vllm[audio]"`,
		`  http://gpu-2:8000/v1  closed   0  misconfigured: run pip install "vllm[audio]"` + "\n",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("status output lacks %q:\n%s", line, stdout)
		}
	}
	d.watch.EndpointProblem("http://gpu-2:8000/v1", "")
	d.watch.BreakerState("http://gpu-2:8000/v1", mllm.BreakerOpen)

	// Ready, found through a config file whose key files this user may not
	// be able to read.
	d.watch.Request("http://gpu-1:8000/v1", "locate", mllm.ResultOK, time.Millisecond)
	cfg := filepath.Join(t.TempDir(), "garssld.hcl")
	listen := strings.TrimPrefix(d.url, "http://")
	if err := os.WriteFile(cfg, []byte("mllm {\n  api_key_file = \"/nonexistent/mllm.key\"\n}\nhttp {\n  listen = \""+listen+"\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, "status", "--config", cfg)
	if code != 0 || !strings.HasPrefix(stdout, "garssld v0.9.1 at "+d.url+": ready\n\nMQTT: connected") {
		t.Errorf("status --config = %d\n%s%s", code, stdout, stderr)
	}

	// A hung loop: the watchdog is about to restart the daemon.
	d.mu.Lock()
	d.hung = []string{"stream back (no progress for 41s)"}
	d.mu.Unlock()
	code, stdout, _ = run(t, "status", "--http", d.url)
	if want := ": ready\nHUNG: these loops stopped making progress; systemd's watchdog will restart garssld\n  - stream back (no progress for 41s)\n"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("status with a hung loop = %d, lacks %q:\n%s", code, want, stdout)
	}
}

func TestStatusUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	code, stdout, stderr := run(t, "status", "--http", addr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	for _, want := range []string{"not reachable at http://" + addr + " (--http)", "connection refused", "systemctl status garssld"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	cfg := filepath.Join(t.TempDir(), "garssld.hcl")
	if err := os.WriteFile(cfg, []byte("http {\n  listen = \""+addr+"\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "status", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "(http.listen in "+cfg+")") {
		t.Errorf("status --config with the daemon down = %d\n%s", code, stderr)
	}
}

func TestStatusNotGarssld(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("<html>some other service</html>"))
	}))
	t.Cleanup(srv.Close)
	code, _, stderr := run(t, "status", "--http", srv.URL)
	if want := srv.URL + " (--http) answers, but not as garssld: GET " + srv.URL + "/readyz: not garssld's answer: "; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("status against another service = %d, want 1 and %q\n%s", code, want, stderr)
	}
}

func TestStatusUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	if err := os.WriteFile(bad, []byte("http {\n  listen = 9464\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "a.hcl", "--http", "127.0.0.1:9464"}, "give --config or --http, not both"},
		{[]string{"--http", "no-port"}, `"no-port" is not a host:port address`},
		{[]string{"--http", "ftp://host:21"}, "is not an http:// URL"},
		{[]string{"--timeout", "0s", "--http", "127.0.0.1:9464"}, "--timeout 0s must be positive"},
		{[]string{"--config", bad}, bad + ":2:"},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.hcl")}, "missing.hcl"},
	} {
		code, _, stderr := run(t, append([]string{"status"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("status %q = %d, want 2 and %q\n%s", tc.args, code, tc.want, stderr)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9464":        "http://127.0.0.1:9464",
		":9464":                 "http://127.0.0.1:9464",
		"0.0.0.0:9464":          "http://127.0.0.1:9464",
		"[::]:9464":             "http://[::1]:9464",
		"robot-7.local:9464":    "http://robot-7.local:9464",
		"http://robot-7:9464/":  "http://robot-7:9464",
		"https://gw/garssl/r7/": "https://gw/garssl/r7",
	} {
		got, err := baseURL(in)
		if err != nil || got != want {
			t.Errorf("baseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// FuzzStatusOutput feeds arbitrary /readyz and /metrics bodies to what
// `garssld status` parses and prints: it must not panic, whatever a
// broken or hostile server answers.
func FuzzStatusOutput(f *testing.F) {
	f.Add(`{"ready":false,"reasons":["mqtt: not connected to the broker"],"mqtt":{"connected":false},"streams":{"front":"running"},"endpoints":[{"endpoint":"http://gpu:8000/v1","breaker":"open","consecutive_4xx":2,"refusing":false}]}`,
		"# TYPE garssl_last_result_timestamp_seconds gauge\ngarssl_last_result_timestamp_seconds{stream=\"front\"} 1.7e9\n"+
			"# TYPE garssl_build_info gauge\ngarssl_build_info{version=\"v1\",goversion=\"go\",ffmpeg=\"\"} 1\n")
	f.Add(`{"streams":{"a":"x"}}`, "garssl_last_result_timestamp_seconds{stream=\"a\"} +Inf\n")
	f.Add(`{"streams":{"a":"x"}}`, "garssl_last_result_timestamp_seconds{stream=\"a\"} NaN\ngarssl_windows_total{stream=\"a\"} -1e308\n")
	f.Add(`null`, "# HELP x\n")
	f.Add(`{"reasons":["\u001b[2Jgone"],"streams":{"a\nb":"\u0007"}}`, "")
	f.Fuzz(func(t *testing.T, readyz, metrics string) {
		rep, err := decodeReport(strings.NewReader(readyz))
		if err != nil {
			return
		}
		m, err := decodeMetrics(strings.NewReader(metrics))
		if err != nil {
			return
		}
		var out strings.Builder
		printStatus(&out, "http://127.0.0.1:9464", statusView{rep, health.Liveness{Hung: rep.Reasons}, m}, time.Unix(1.7e9, 0))
		if !strings.HasPrefix(out.String(), "garssld ") {
			t.Errorf("output starts %q", out.String())
		}
		if i := strings.IndexFunc(out.String(), func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }); i >= 0 {
			t.Errorf("control character %q in the output:\n%q", out.String()[i], out.String())
		}
	})
}
