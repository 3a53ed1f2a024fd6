package mllm

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idRecorder keeps the X-Request-Id of every request in arrival order.
type idRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *idRecorder) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *idRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

func TestRetriesCarryTheirAttemptInTheRequestID(t *testing.T) {
	ids := &idRecorder{}
	url, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		ids.add(r.Header.Get("X-Request-Id"))
		fail(http.StatusBadGateway, "upstream gone")(w, r, release)
	})
	h := newHarness(t, Config{Endpoints: []string{url}, Timeout: time.Second, Breaker: BreakerConfig{ConsecutiveFailures: 10}})
	_, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/refine"))
	if err == nil {
		t.Fatal("Complete succeeded against a failing server")
	}
	want := []string{"n/s/1/refine", "n/s/1/refine/a2", "n/s/1/refine/a3"}
	if got := ids.all(); !slices.Equal(got, want) {
		t.Errorf("request ids %q, want %q", got, want)
	}
	// The error names the request once, and says which attempt it was.
	if msg := err.Error(); strings.Count(msg, "n/s/1/refine") != 1 || !strings.HasPrefix(msg, "request n/s/1/refine, attempt 3: ") {
		t.Errorf("error %q; want the request id once, then the attempt", msg)
	}
}

// throttlingServer answers 429 with retryAfter to the first throttled
// requests, then completions.
func throttlingServer(t *testing.T, throttled int64, retryAfter string) (string, *idRecorder) {
	t.Helper()
	ids := &idRecorder{}
	var n atomic.Int64
	url, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		ids.add(r.Header.Get("X-Request-Id"))
		if n.Add(1) <= throttled {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			fail(http.StatusTooManyRequests, "too many requests")(w, r, release)
			return
		}
		answer(completion("{}"))(w, r, release)
	})
	return url, ids
}

func TestThrottledRequestsWaitForRetryAfterWithinTheDeadline(t *testing.T) {
	url, ids := throttlingServer(t, 1, "1")
	h := newHarness(t, Config{Endpoints: []string{url}, Timeout: 5 * time.Second,
		Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute}})
	began := time.Now()
	resp, err := h.client.Complete(withTimeout(t, 30*time.Second), simpleRequest("n/s/1/locate"))
	took := time.Since(began)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if took < time.Second {
		t.Errorf("answered after %s; Retry-After asked for 1 s", took)
	}
	if resp.Attempts != 2 {
		t.Errorf("%d attempts, want 2", resp.Attempts)
	}
	if got, want := ids.all(), []string{"n/s/1/locate", "n/s/1/locate/a2"}; !slices.Equal(got, want) {
		t.Errorf("request ids %q, want %q", got, want)
	}
	if st := h.client.States()[0].Breaker; st != BreakerClosed {
		t.Errorf("breaker %s: a 429 was counted against the endpoint", st)
	}
}

func TestThrottlingIsNotAnOutage(t *testing.T) {
	// Always 429, without Retry-After: jittered backoff, three attempts, and
	// a breaker that would open on the first counted failure stays closed.
	url, ids := throttlingServer(t, 1000, "")
	h := newHarness(t, Config{Endpoints: []string{url}, Timeout: 5 * time.Second,
		Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute}})
	_, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want HTTP 429", err)
	}
	if n := len(ids.all()); n != maxAttempts {
		t.Errorf("%d attempts, want %d", n, maxAttempts)
	}
	if st := h.client.States()[0].Breaker; st != BreakerClosed {
		t.Errorf("breaker %s after throttling", st)
	}
	// Reported apart from other 4xx, so that readiness does not take a busy
	// server for one refusing every request.
	if got, want := h.obs.results(), []string{ResultThrottled, ResultThrottled, ResultThrottled}; !slices.Equal(got, want) {
		t.Errorf("observer results %q, want %q", got, want)
	}
}

func TestRetryAfterBeyondTheDeadlineFailsAtOnce(t *testing.T) {
	url, ids := throttlingServer(t, 1000, "30")
	h := newHarness(t, Config{Endpoints: []string{url}, Timeout: time.Second})
	began := time.Now()
	_, err := h.client.Complete(withTimeout(t, 5*time.Second), simpleRequest("n/s/1/locate"))
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("took %s; a wait beyond the deadline should not be started", took)
	}
	if err == nil || !strings.Contains(err.Error(), "retry after 30s") {
		t.Errorf("err = %v; want it to say the server asked to retry after 30s", err)
	}
	if n := len(ids.all()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"3":                             3 * time.Second,
		" 0 ":                           0,
		"Sun, 01 Jun 2025 08:00:07 GMT": 7 * time.Second,
		"Sun, 01 Jun 2025 07:59:00 GMT": 0,
	} {
		if got, ok := retryAfter(h, now); !ok || got != want {
			t.Errorf("retryAfter(%q) = %s, %v; want %s", h, got, ok, want)
		}
	}
	for _, h := range []string{"", "-1", "soon", "1.5"} {
		if _, ok := retryAfter(h, now); ok {
			t.Errorf("retryAfter(%q) accepted", h)
		}
	}
}

func TestRefusedKeyPointsAtTheKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "mllm.key")
	if err := os.WriteFile(keyFile, []byte("sk-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		code    int
		keyFile string
		want    string
	}{
		{http.StatusUnauthorized, keyFile, "the server refused the API key: check the key in the file mllm.api_key_file names"},
		{http.StatusForbidden, keyFile, "the server refused the API key"},
		{http.StatusUnauthorized, "", "the server wants an API key: put it in a file and name that file in mllm.api_key_file"},
	} {
		url, hits := testServer(t, fail(tt.code, "invalid api key"))
		h := newHarness(t, Config{Endpoints: []string{url}, APIKeyFile: tt.keyFile, Breaker: BreakerConfig{ConsecutiveFailures: 1}})
		_, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
		if !errors.Is(err, ErrKeyRefused) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("HTTP %d (key file %q): err = %v; want ErrKeyRefused saying %q", tt.code, tt.keyFile, err, tt.want)
		}
		if strings.Contains(err.Error(), "sk-wrong") {
			t.Errorf("the key leaked: %v", err)
		}
		if hits.Load() != 1 {
			t.Errorf("HTTP %d retried %d times; a refused key does not heal", tt.code, hits.Load()-1)
		}
	}
}
