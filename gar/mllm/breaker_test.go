package mllm

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/waittest"
)

func TestBreakerTripsOnOutagesAndFailsFast(t *testing.T) {
	const trips = 3
	tests := []struct {
		name    string
		timeout time.Duration
		handler func(http.ResponseWriter, *http.Request, <-chan struct{})
	}{
		{"HTTP 500", time.Second, fail(http.StatusInternalServerError, "engine dead")},
		{"HTTP 503", time.Second, fail(http.StatusServiceUnavailable, "overloaded")},
		{"HTML with 200", time.Second, func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>captive portal</html>"))
		}},
		{"timeout", 50 * time.Millisecond, func(_ http.ResponseWriter, r *http.Request, release <-chan struct{}) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, hits := testServer(t, tt.handler)
			h := newHarness(t, Config{
				Endpoints: []string{url},
				Timeout:   tt.timeout,
				Breaker:   BreakerConfig{ConsecutiveFailures: trips, OpenFor: time.Minute},
			})
			// Retries may spend several failures per call; what matters is
			// that the breaker opens after exactly `trips` failed requests.
			for call := 0; hits.Load() < trips; call++ {
				if call == trips {
					t.Fatalf("%d calls made only %d requests", call, hits.Load())
				}
				if _, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate")); err == nil {
					t.Fatal("Complete succeeded against a failing server")
				}
			}
			if n := hits.Load(); n != trips {
				t.Fatalf("%d requests reached the server, want %d", n, trips)
			}
			if st := h.client.States()[0].Breaker; st != BreakerOpen {
				t.Fatalf("breaker %s after %d failures", st, trips)
			}
			_, err := h.client.Complete(context.Background(), simpleRequest("n/s/2/locate"))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), url) {
				t.Errorf("error %q does not name the endpoint", err)
			}
			if n := hits.Load(); n != trips {
				t.Errorf("an open breaker let a request through (%d requests)", n)
			}
			if r := h.obs.results(); r[len(r)-1] != ResultBreakerOpen {
				t.Errorf("last observed result %q, want %q", r[len(r)-1], ResultBreakerOpen)
			}
		})
	}
}

func TestBreakerRecoversThroughHalfOpenProbe(t *testing.T) {
	var healed atomic.Bool
	url, hits := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		if healed.Load() {
			answer(completion(`{"bbox":[1,2,3,4]}`))(w, r, release)
			return
		}
		fail(http.StatusInternalServerError, "boom")(w, r, release)
	})
	const openFor = 200 * time.Millisecond
	h := newHarness(t, Config{
		Endpoints: []string{url},
		Timeout:   2 * time.Second,
		Breaker:   BreakerConfig{ConsecutiveFailures: 2, OpenFor: openFor},
	})
	// A deadline shorter than the per-request timeout rules out retries, so
	// each call is one request.
	for i := range 2 {
		if _, err := h.client.Complete(withTimeout(t, time.Second), simpleRequest("n/s/1/locate")); err == nil {
			t.Fatalf("call %d succeeded against a failing server", i)
		}
	}
	openedAt := time.Now()
	if _, err := h.client.Complete(context.Background(), simpleRequest("n/s/2/locate")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d requests reached the server, want 2", n)
	}

	healed.Store(true)
	waittest.For(t, "half-open", 10*time.Second, func() bool { return h.client.States()[0].Breaker == BreakerHalfOpen })
	if waited := time.Since(openedAt); waited < openFor*3/4 {
		t.Errorf("half-open after %v, want about %v", waited, openFor)
	}
	resp, err := h.client.Complete(context.Background(), simpleRequest("n/s/3/locate"))
	if err != nil {
		t.Fatalf("probe failed: %v", err)
	}
	if resp.Choices[0] != `{"bbox":[1,2,3,4]}` {
		t.Errorf("probe answer %q", resp.Choices[0])
	}
	if st := h.client.States()[0].Breaker; st != BreakerClosed {
		t.Errorf("breaker %s after a successful probe", st)
	}
	want := []string{BreakerClosed, BreakerOpen, BreakerHalfOpen, BreakerClosed}
	if got := h.obs.stateHistory(url); !reflect.DeepEqual(got, want) {
		t.Errorf("observed states %v, want %v", got, want)
	}
	if n := strings.Count(h.logs.String(), "circuit breaker state changed"); n != 3 {
		t.Errorf("%d state-change log lines, want 3:\n%s", n, h.logs)
	}
}

func TestBreakerIgnoresAnswersThatProveTheServerIsUp(t *testing.T) {
	tests := []struct {
		name    string
		handler func(http.ResponseWriter, *http.Request, <-chan struct{})
		n       int
		check   func(error) bool
	}{
		{"HTTP 400", fail(http.StatusBadRequest, "bad n"), 1, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == http.StatusBadRequest && se.Message == "bad n"
		}},
		{"HTTP 404", fail(http.StatusNotFound, "no such model"), 1, func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == http.StatusNotFound
		}},
		{"garbage inside a valid envelope", answer(completion("sorry, I cannot see a dog")), 1, func(err error) bool {
			return err == nil
		}},
		{"too few choices", answer(completion("{}")), 5, func(err error) bool {
			return errors.Is(err, ErrBadResponse)
		}},
	}
	const calls = 4
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, hits := testServer(t, tt.handler)
			h := newHarness(t, Config{Endpoints: []string{url}, Breaker: BreakerConfig{ConsecutiveFailures: 2}})
			for range calls {
				req := simpleRequest("n/s/1/analysis")
				req.N = tt.n
				if _, err := h.client.Complete(context.Background(), req); !tt.check(err) {
					t.Fatalf("unexpected error %v", err)
				}
			}
			if n := hits.Load(); n != calls {
				t.Errorf("%d requests for %d calls: want one each, no retries", n, calls)
			}
			if st := h.client.States()[0].Breaker; st != BreakerClosed {
				t.Errorf("breaker %s", st)
			}
		})
	}
}

// TestCallersWaitForTheHalfOpenProbe: while the one probe a half-open breaker
// admits is in flight, other requests wait for its verdict instead of
// failing, so the first window after an outage is not lost.
func TestCallersWaitForTheHalfOpenProbe(t *testing.T) {
	var healed atomic.Bool
	probeHeld := make(chan struct{})
	letProbeGo := make(chan struct{})
	var released sync.Once
	release := func() { released.Do(func() { close(letProbeGo) }) }
	var once atomic.Bool
	url, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		if !healed.Load() {
			fail(http.StatusInternalServerError, "boom")(w, r, release)
			return
		}
		if once.CompareAndSwap(false, true) {
			close(probeHeld)
			<-letProbeGo
		}
		answer(completion(`{"ok":true}`))(w, r, release)
	})
	t.Cleanup(release) // registered after the server's, so it runs first
	h := newHarness(t, Config{
		Endpoints: []string{url},
		Timeout:   2 * time.Second,
		Breaker:   BreakerConfig{ConsecutiveFailures: 1, OpenFor: 100 * time.Millisecond},
	})
	if _, err := h.client.Complete(withTimeout(t, time.Second), simpleRequest("n/s/1/locate")); err == nil {
		t.Fatal("succeeded against a failing server")
	}
	healed.Store(true)
	waittest.For(t, "half-open", 10*time.Second, func() bool { return h.client.States()[0].Breaker == BreakerHalfOpen })

	probeErr := make(chan error, 1)
	go func() {
		_, err := h.client.Complete(context.Background(), simpleRequest("n/s/2/locate"))
		probeErr <- err
	}()
	<-probeHeld
	waiterErr := make(chan error, 1)
	go func() {
		_, err := h.client.Complete(withTimeout(t, 5*time.Second), simpleRequest("n/s/2/audio"))
		waiterErr <- err
	}()
	select {
	case err := <-waiterErr:
		t.Fatalf("second request returned while the probe was out: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-probeErr; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := <-waiterErr; err != nil {
		t.Fatalf("request waiting on the probe: %v", err)
	}
}

// TestFailedCallsReportTheirAttempts: a failed Complete still says how many
// requests reached a server, so a window's request count stays true.
func TestFailedCallsReportTheirAttempts(t *testing.T) {
	url, hits := testServer(t, fail(http.StatusInternalServerError, "boom"))
	h := newHarness(t, Config{
		Endpoints: []string{url},
		Timeout:   time.Second,
		Breaker:   BreakerConfig{ConsecutiveFailures: 10, OpenFor: time.Minute},
	})
	resp, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
	if err == nil {
		t.Fatal("succeeded against a failing server")
	}
	if resp.Attempts != int(hits.Load()) || resp.Attempts != maxAttempts {
		t.Errorf("Attempts = %d, server saw %d, want %d", resp.Attempts, hits.Load(), maxAttempts)
	}

	url2, hits2 := testServer(t, fail(http.StatusInternalServerError, "boom"))
	h2 := newHarness(t, Config{
		Endpoints: []string{url2},
		Timeout:   time.Second,
		Breaker:   BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute},
	})
	_, _ = h2.client.Complete(withTimeout(t, time.Second), simpleRequest("n/s/1/locate"))
	before := hits2.Load()
	resp, err = h2.client.Complete(context.Background(), simpleRequest("n/s/2/locate"))
	if !errors.Is(err, ErrUnavailable) || resp.Attempts != 0 || hits2.Load() != before {
		t.Errorf("open breaker: err %v, Attempts %d, server saw %d more", err, resp.Attempts, hits2.Load()-before)
	}
}
