package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/metrics"
)

// inputs is a Readiness the test changes while the server runs.
type inputs struct {
	mu   sync.Mutex
	r    Readiness
	hung []string
}

func (in *inputs) ready() Readiness {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.r
}

func (in *inputs) hungLoops() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.hung
}

func (in *inputs) set(f func(*inputs)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f(in)
}

// startServer runs a Server on a random loopback port until the test ends
// and returns its base URL and the channel Run's result arrives on.
func startServer(t *testing.T, cfg Config) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return "http://" + s.Addr().String(), cancel, done
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestServerEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	model := m.Model()
	m.UseModel(model)
	watch := NewModelWatch(model)
	watch.BreakerState(gpu1, mllm.BreakerClosed)
	in := &inputs{r: Readiness{Streams: map[string]string{"front": "connecting"}}}
	base, _, _ := startServer(t, Config{
		Gatherer: reg,
		Ready: func() Readiness {
			r := in.ready()
			r.Endpoints = watch.Endpoints()
			return r
		},
		Hung: in.hungLoops,
	})

	code, body := get(t, base+PathMetrics)
	if code != http.StatusOK || !strings.Contains(body, `garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="closed"} 1`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d, missing the breaker series or the Go collector:\n%.2000s", code, body)
	}

	code, body = get(t, base+PathHealthz)
	if code != http.StatusOK || !strings.Contains(body, `"alive": true`) {
		t.Errorf("/healthz = %d %s, want 200 alive", code, body)
	}

	readyz := func(wantCode int, wantReasons ...string) Report {
		t.Helper()
		code, body := get(t, base+PathReadyz)
		var rep Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("/readyz body is not JSON: %v\n%s", err, body)
		}
		if code != wantCode {
			t.Errorf("/readyz = %d, want %d\n%s", code, wantCode, body)
		}
		if strings.Join(rep.Reasons, "\n") != strings.Join(wantReasons, "\n") {
			t.Errorf("/readyz reasons = %q, want %q", rep.Reasons, wantReasons)
		}
		return rep
	}
	readyz(http.StatusServiceUnavailable, "mqtt: not connected to the broker", "streams: none is running (front connecting)")

	in.set(func(in *inputs) { in.r.MQTTConnected = true; in.r.Streams = map[string]string{"front": "running"} })
	rep := readyz(http.StatusOK)
	if !rep.Ready || !rep.MQTT.Connected || rep.Streams["front"] != "running" || len(rep.Endpoints) != 1 || rep.Endpoints[0].Breaker != "closed" {
		t.Errorf("/readyz report = %+v", rep)
	}

	// A wrong API key: every request answered 4xx. The breaker stays
	// closed, readiness does not.
	for range RefusalThreshold {
		watch.Request(gpu1, "locate", mllm.ResultHTTP4xx, 10*time.Millisecond)
	}
	readyz(http.StatusServiceUnavailable, "model: no usable endpoint: "+gpu1+" refuses requests (3 4xx answers in a row; check mllm.api_key_file and mllm.model)")
	watch.Request(gpu1, "locate", mllm.ResultOK, 10*time.Millisecond)
	readyz(http.StatusOK)
	// The watch passed the requests on to the metrics.
	if _, body := get(t, base+PathMetrics); !strings.Contains(body, `garssl_mllm_requests_total{endpoint="http://gpu-1:8000/v1",result="http_4xx",stage="locate"} 3`) {
		t.Errorf("/metrics lacks the forwarded 4xx count:\n%.3000s", body)
	}

	in.set(func(in *inputs) { in.hung = []string{"stream front"} })
	code, body = get(t, base+PathHealthz)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"stream front"`) || !strings.Contains(body, `"alive": false`) {
		t.Errorf("/healthz with a hung loop = %d %s, want 503 naming it", code, body)
	}

	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
	resp, err := http.Post(base+PathReadyz, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz = %d, want 405", resp.StatusCode)
	}
}

func TestReadyzWithoutSource(t *testing.T) {
	base, _, _ := startServer(t, Config{})
	code, body := get(t, base+PathReadyz)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "readiness is not reported") {
		t.Errorf("/readyz without a source = %d %s", code, body)
	}
}

func TestListenPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, err = Listen(Config{Listen: addr})
	if err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	for _, want := range []string{"http.listen " + addr, "address already in use", "another process", "change http.listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := Listen(Config{}); err == nil || !strings.Contains(err.Error(), "http.listen is empty") {
		t.Errorf("Listen without an address = %v", err)
	}
}

// blockingGatherer holds every scrape until released.
type blockingGatherer struct {
	entered chan struct{}
	release chan struct{}
}

func (g *blockingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, nil
}

func TestShutdownIsGraceful(t *testing.T) {
	g := &blockingGatherer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	base, cancel, done := startServer(t, Config{Gatherer: g, ShutdownTimeout: time.Minute})

	scrape := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + PathMetrics)
		if err == nil {
			if resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
			resp.Body.Close()
		}
		scrape <- err
	}()
	<-g.entered
	cancel()
	// The scrape in progress holds shutdown open...
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a request was in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	// ...and completes once it can.
	close(g.release)
	if err := <-scrape; err != nil {
		t.Errorf("scrape during shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the last request finished")
	}
	if _, err := http.Get(base + PathHealthz); err == nil {
		t.Error("the server still answers after Run returned")
	}
}

func TestShutdownTimeoutCutsOff(t *testing.T) {
	g := &blockingGatherer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(g.release)
	base, cancel, done := startServer(t, Config{Gatherer: g, ShutdownTimeout: 50 * time.Millisecond})
	scrape := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + PathMetrics)
		if err == nil {
			resp.Body.Close()
		}
		scrape <- err
	}()
	<-g.entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v; a slow scrape must not make a clean stop fail", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run waited past its shutdown timeout")
	}
	// The scrape still running was cut off, not left hanging.
	select {
	case err := <-scrape:
		if err == nil {
			t.Error("the scrape cut off at shutdown got an answer")
		}
	case <-time.After(30 * time.Second):
		t.Error("the scrape still runs after Run returned")
	}
}
