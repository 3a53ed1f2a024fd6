package mllm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/syncbuf"
)

type observedRequest struct {
	endpoint, stage, result string
}

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu       sync.Mutex
	requests []observedRequest
	states   map[string][]string
	changed  map[string][]time.Time // when each of states was reported
	problems []string               // "endpoint=problem", in order
}

func (r *recorder) EndpointProblem(endpoint, problem string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, endpoint+"="+problem)
}

func (r *recorder) problemHistory() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}

func (r *recorder) Request(endpoint, stage, result string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, observedRequest{endpoint, stage, result})
}

func (r *recorder) BreakerState(endpoint, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.states == nil {
		r.states, r.changed = map[string][]string{}, map[string][]time.Time{}
	}
	r.states[endpoint] = append(r.states[endpoint], state)
	r.changed[endpoint] = append(r.changed[endpoint], time.Now())
}

func (r *recorder) results() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.requests))
	for i, q := range r.requests {
		out[i] = q.result
	}
	return out
}

func (r *recorder) stateHistory(endpoint string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states[endpoint]...)
}

// stateTimes are the times of stateHistory's entries.
func (r *recorder) stateTimes(endpoint string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.changed[endpoint]...)
}

// harness is a client under test with its log and observer.
type harness struct {
	client *Client
	obs    *recorder
	logs   *syncbuf.Buffer
}

func newHarness(t *testing.T, cfg Config) harness {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "Qwen/Qwen2.5-Omni-7B"
	}
	logs := &syncbuf.Buffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "mllm", Level: hclog.Trace, Output: logs})
	obs := &recorder{}
	c, err := New(cfg, logger, obs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return harness{client: c, obs: obs, logs: logs}
}

// testServer starts an HTTP server on 127.0.0.1 that counts requests. The
// returned channel is closed at cleanup, before the server shuts down, so
// handlers that block on it let go.
func testServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, release <-chan struct{})) (baseURL string, hits *atomic.Int64) {
	t.Helper()
	hits = &atomic.Int64{}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		hits.Add(1)
		handler(w, r, release)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL + "/v1", hits
}

// completion renders a chat completion with the given choice texts in order.
func completion(texts ...string) string {
	var b strings.Builder
	b.WriteString(`{"id":"chatcmpl-1","object":"chat.completion","choices":[`)
	for i, s := range texts {
		if i > 0 {
			b.WriteByte(',')
		}
		content, _ := json.Marshal(s)
		fmt.Fprintf(&b, `{"index":%d,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}`, i, content)
	}
	b.WriteString(`],"usage":{"prompt_tokens":400,"completion_tokens":20,"total_tokens":420}}`)
	return b.String()
}

func answer(body string) func(http.ResponseWriter, *http.Request, <-chan struct{}) {
	return func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func fail(code int, msg string) func(http.ResponseWriter, *http.Request, <-chan struct{}) {
	return func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		text, _ := json.Marshal(msg)
		fmt.Fprintf(w, `{"object":"error","message":%s,"code":%d}`, text, code)
	}
}

// simpleRequest is a text-only request with the given id.
func simpleRequest(id string) Request {
	return Request{ID: id, Stage: "locate", System: "sys", Text: "where?"}
}

// withTimeout is a context that ends after d, cancelled at cleanup.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
