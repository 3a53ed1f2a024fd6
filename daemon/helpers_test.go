package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/goleak"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/syncbuf"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/sdnotify"
)

// The end-to-end tests run the daemon in this process against a real
// mosquitto (internal/mosquittotest), omnisim over HTTP on 127.0.0.1, and
// media made with the ffmpeg CLI, read at its own rate as a camera would
// deliver it.

const testNode = "robot-t"

// goleak ignores the broker's process waiter, which the broker's cleanup
// ends after the test's own cleanups.
var leakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/garssl/garssld/internal/mosquittotest.(*Broker).start.func1"),
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions...) }

// The clip: a red square, static at redBox (frame pixels, inclusive), on
// a dark 320×240 picture, and a continuous tone, so that no window is
// silent. omnisim finds the square by its colour; its locate answer is
// moved off it on purpose (locateOffset model pixels), so that a test
// sees refinement move the box back rather than start at the answer.
var (
	redBox       = [4]float64{100, 80, 159, 139}
	locateOffset = [2]int{36, 28}
)

const (
	clipW, clipH = 320, 240
	audioClass   = "beeping"
)

// makeClip writes an H.264/AAC clip of the given length and returns its
// path.
func makeClip(t testing.TB, dir, name string, seconds float64) string {
	t.Helper()
	d := fmt.Sprint(seconds)
	return testmedia.File(t, dir, name,
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x303030:s=%dx%d:r=25:d=%s", clipW, clipH, d),
		"-f", "lavfi", "-i", "color=c=0xff0000:s=60x60:r=25:d="+d,
		"-f", "lavfi", "-i", "sine=f=880:sample_rate=48000:d="+d,
		"-filter_complex", fmt.Sprintf("[0][1]overlay=x=%d:y=%d[v]", int(redBox[0]), int(redBox[1])),
		"-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "48k", "-ac", "1", "-shortest")
}

// mpegTS writes the clip as MPEG-TS for a UDP sender.
func mpegTS(t testing.TB, dir, name string, seconds float64) string {
	t.Helper()
	mp4 := makeClip(t, dir, name+".mp4", seconds)
	return testmedia.File(t, dir, name, "-i", mp4, "-c", "copy", "-f", "mpegts")
}

// sim is omnisim in this process, behind an httptest server.
type sim struct {
	*omnisim.Server
	url   string
	start time.Time // no later than the server's own start, for Down windows
}

// startSim runs omnisim with the truth sidecar of the clip. timeScale
// scales its latency model (0: answers at once).
func startSim(t testing.TB, timeScale float64) *sim {
	t.Helper()
	truth := filepath.Join(t.TempDir(), "truth.json")
	writeJSON(t, truth, map[string]any{
		"target_rgb": []int{255, 0, 0}, "tolerance": 70, "min_pixels": 20,
		"audio_class": audioClass, "audio_confidence": 0.93,
		"locate_error": map[string]any{"offset": locateOffset},
	})
	cfg := omnisim.DefaultConfig()
	cfg.TimeScale = timeScale
	cfg.TruthFile = truth
	start := time.Now()
	srv, err := omnisim.New(cfg, nil)
	if err != nil {
		t.Fatalf("omnisim: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &sim{Server: srv, url: hs.URL + "/v1", start: start}
}

// down makes omnisim answer 503 from now on, until up.
func (s *sim) down(t testing.TB) {
	t.Helper()
	f := s.CurrentFaults()
	f.Down = []omnisim.DownWindow{{From: time.Since(s.start), To: time.Since(s.start) + time.Hour}}
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

// downFor takes the server down for d from now; it comes back by itself,
// so the outage lasts d however late the test runs. It returns the
// server's return at the earliest: s.start is no later than the server's
// own start, so the window begins at now or a moment after.
func (s *sim) downFor(t testing.TB, d time.Duration) (back time.Time) {
	t.Helper()
	f := s.CurrentFaults()
	from := time.Since(s.start)
	back = s.start.Add(from + d)
	f.Down = []omnisim.DownWindow{{From: from, To: from + d}}
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	return back
}

func (s *sim) up(t testing.TB) {
	t.Helper()
	f := s.CurrentFaults()
	f.Down = nil
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// streamSpec is one stream block of a test config.
type streamSpec struct {
	name, input string
	window      string // window and hop; default the setup's
	// extra attribute lines, e.g. `loop = true`.
	extra []string
}

// setup is what a test config holds besides its streams.
type setup struct {
	broker, endpoint string
	storeDir         string
	maxInFlight      int
	staleAfter       string // stale_after of every stream; default 10s
	maxQueue         int    // max_queue of every stream; default 2
	window           string // window and hop of every stream; default 1s
	shutdownTimeout  string
	mllmTimeout      string // mllm.timeout; default 5s
	windowDeadline   string // mllm.window_deadline; default 8s
	extraMQTT        []string
	// breaker is the mllm.breaker block's body; default trips after 3
	// failures for a fixed 1s.
	breaker string
	// httpListen is http.listen; default 127.0.0.1:0. A test that
	// restarts the daemon under a page's feet gives a fixed port.
	httpListen string
	extraHTTP  []string
}

// configText renders a test config.
func configText(s setup, streams ...streamSpec) string {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node_id = %q\nshutdown_timeout = %q\n", testNode, def(s.shutdownTimeout, "10s"))
	b.WriteString("log {\n  level = \"debug\"\n}\n")
	fmt.Fprintf(&b, "mllm {\n  endpoints = [%q]\n  max_in_flight = %d\n  timeout = %q\n  window_deadline = %q\n"+
		"  breaker {\n%s  }\n}\n", s.endpoint, max(s.maxInFlight, 1), def(s.mllmTimeout, "5s"), def(s.windowDeadline, "8s"), def(s.breaker, "    consecutive_failures = 3\n    open_for = \"1s\"\n"))
	fmt.Fprintf(&b, "mqtt {\n  broker = %q\n  store_dir = %q\n  max_reconnect_interval = \"1s\"\n", s.broker, s.storeDir)
	for _, l := range s.extraMQTT {
		b.WriteString("  " + l + "\n")
	}
	fmt.Fprintf(&b, "}\nhttp {\n  listen = %q\n", def(s.httpListen, "127.0.0.1:0"))
	for _, l := range s.extraHTTP {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("}\n")
	for _, st := range streams {
		fmt.Fprintf(&b, "stream %q {\n  input = %q\n  window = %q\n  hop = %q\n  stale_after = %q\n  max_queue = %d\n",
			st.name, st.input, cmp.Or(st.window, s.window, "1s"), cmp.Or(st.window, s.window, "1s"), def(s.staleAfter, "10s"), cmp.Or(s.maxQueue, 2))
		for _, l := range st.extra {
			b.WriteString("  " + l + "\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// loadConfig is what `garssld run` does at start and at SIGHUP.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.ValidateForRun(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// fakeSystemd records sd_notify messages and plays WATCHDOG_USEC. With
// forward set, it also sends them to NOTIFY_SOCKET, as the real one does.
type fakeSystemd struct {
	watchdog time.Duration
	forward  bool
	mu       sync.Mutex
	msgs     []string
}

func (f *fakeSystemd) Notify(state string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, state)
	if f.forward {
		return sdnotify.Systemd().Notify(state)
	}
	return true, nil
}

func (f *fakeSystemd) WatchdogInterval() (time.Duration, error) { return f.watchdog, nil }

func (f *fakeSystemd) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// count counts messages that start with prefix.
func (f *fakeSystemd) count(prefix string) int {
	n := 0
	for _, m := range f.messages() {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// logBuffer collects the daemon's JSON log lines.
type logBuffer struct{ syncbuf.Buffer }

// lines returns the decoded log lines whose message contains msg.
func (l *logBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if s, _ := m["@message"].(string); strings.Contains(s, msg) {
			out = append(out, m)
		}
	}
	return out
}

// running is a daemon under test.
type running struct {
	*Daemon
	cfgPath string
	logs    *logBuffer
	systemd *fakeSystemd
	signals chan os.Signal
	done    chan error
	cancel  context.CancelFunc
}

// startDaemon writes text as the config file, builds the daemon and runs
// it until the test ends (or stop).
func startDaemon(t testing.TB, text string, systemd *fakeSystemd, hooks testHooks) *running {
	t.Helper()
	path := filepath.Join(t.TempDir(), "garssld.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("test config:\n%v\n%s", err, text)
	}
	if systemd == nil {
		systemd = &fakeSystemd{}
	}
	r := &running{cfgPath: path, logs: &logBuffer{}, systemd: systemd, signals: make(chan os.Signal, 4), done: make(chan error, 1)}
	log := hclog.New(&hclog.LoggerOptions{Name: "garssld", Level: hclog.Debug, JSONFormat: true, Output: r.logs})
	d, err := New(Options{
		Config: cfg, Load: func() (*config.Config, error) { return loadConfig(path) },
		Logger: log, Signals: r.signals, Version: "test", Systemd: systemd, test: hooks,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.Daemon = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", tail(r.logs.String(), 80))
		}
	})
	waittest.For(t, "READY=1", 30*time.Second, func() bool { return systemd.count("READY=1") >= 1 })
	return r
}

// stop ends the daemon as SIGTERM does and returns Run's error; calling it
// again returns nil.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	if r.done == nil {
		return nil
	}
	r.signals <- syscall.SIGTERM
	select {
	case err := <-r.done:
		r.done = nil
		r.cancel()
		return err
	case <-time.After(90 * time.Second):
		r.done = nil
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("Run did not return within 90s of SIGTERM; log:\n%s\ngoroutines:\n%s", tail(r.logs.String(), 60), buf)
		return nil
	}
}

// rewrite replaces the config file and sends SIGHUP; it waits for the
// reload's READY=1.
func (r *running) reload(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(r.cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	before := r.systemd.count("READY=1")
	r.signals <- syscall.SIGHUP
	waittest.For(t, "the reload's READY=1", 60*time.Second, func() bool { return r.systemd.count("READY=1") > before })
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// get fetches path from the daemon's HTTP listener.
func (r *running) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// ready returns /readyz's report.
func (r *running) ready(t testing.TB) health.Report {
	t.Helper()
	_, body := r.get(t, health.PathReadyz)
	var rep health.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	return rep
}

// metricSet is a /metrics scrape.
type metricSet map[string]*dto.MetricFamily

func (r *running) scrape(t testing.TB) metricSet {
	t.Helper()
	_, body := r.get(t, "/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return metricSet(fams)
}

// seriesWith counts the series, of every family, that carry label = value.
func (m metricSet) seriesWith(label, value string) int {
	n := 0
	for _, f := range m {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n++
				}
			}
		}
	}
	return n
}

// endpointName is the endpoint label of a model server's base URL, which
// holds no credentials in these tests.
func endpointName(url string) string { return strings.TrimRight(url, "/") }

// lintRegistry fails the test for every problem promlint finds in the
// daemon's registry, after the test exercised it.
func lintRegistry(t testing.TB, reg prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// sum adds the samples of family name whose labels include want.
func (m metricSet) sum(name string, want map[string]string) float64 {
	total := 0.0
	for _, v := range m.byLabel(name, "", want) {
		total += v
	}
	return total
}

// byLabel sums family name's samples whose labels include want, per value
// of label.
func (m metricSet) byLabel(name, label string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			out[labels[label]] += s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
		}
	}
	return out
}

// subscribe connects a persistent QoS 1 subscriber to everything the test
// node publishes.
func subscribe(t testing.TB, b *mosquittotest.Broker, id string) *mosquittotest.Subscriber {
	t.Helper()
	return mosquittotest.Subscribe(t, b.URL(), mosquittotest.SubscriberConfig{
		ClientID: id, Persistent: true, QoS: 1, Topics: []string{"garssl/" + testNode + "/#"},
	})
}

func topic(stream, leaf string) string { return "garssl/" + testNode + "/" + stream + "/" + leaf }

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

func detectionSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gar.DetectionSchema))
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		if schemaErr = c.AddResource("mem:///detection.v1.json", doc); schemaErr != nil {
			return
		}
		schema, schemaErr = c.Compile("mem:///detection.v1.json")
	})
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	return schema
}

// detections validates every message on stream's detections topic against
// the payload schema and returns them decoded, in arrival order.
func detections(t testing.TB, msgs []mosquittotest.Message, stream string) []gar.Detection {
	t.Helper()
	sch := detectionSchema(t)
	var out []gar.Detection
	for _, m := range msgs {
		if m.Topic != topic(stream, "detections") {
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Payload))
		if err != nil {
			t.Fatalf("detection is not JSON: %v: %s", err, m.Payload)
		}
		if err := sch.Validate(inst); err != nil {
			t.Fatalf("detection does not follow the schema: %v\n%s", err, m.Payload)
		}
		var d gar.Detection
		if err := json.Unmarshal(m.Payload, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// distinctSeqs is the set of seqs received (duplicates, which at-least-once
// delivery allows, counted once) for one run.
func distinctSeqs(ds []gar.Detection, runID string) map[uint64]gar.Detection {
	out := map[uint64]gar.Detection{}
	for _, d := range ds {
		if d.RunID == runID {
			out[d.Seq] = d
		}
	}
	return out
}

// states returns the states published on stream's retained state topic,
// in order.
func states(msgs []mosquittotest.Message, stream string) []string {
	var out []string
	for _, m := range msgs {
		if m.Topic != topic(stream, "state") {
			continue
		}
		var s struct{ State string }
		if json.Unmarshal(m.Payload, &s) == nil {
			out = append(out, s.State)
		}
	}
	return out
}

// iou is the intersection over union of two inclusive pixel boxes.
func iou(a, b [4]float64) float64 {
	ix := math.Min(a[2], b[2]) - math.Max(a[0], b[0]) + 1
	iy := math.Min(a[3], b[3]) - math.Max(a[1], b[1]) + 1
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	area := func(r [4]float64) float64 { return (r[2] - r[0] + 1) * (r[3] - r[1] + 1) }
	return inter / (area(a) + area(b) - inter)
}

// histogramCount is the sample count of family name's histogram whose
// label is value.
func histogramCount(m metricSet, name, label, value string) uint64 {
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return s.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}
