package mllm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// hangingServer blocks every request until the client goes away, unless
// answering is switched on; arrivals are signalled on the returned channel.
func hangingServer(t *testing.T, answering *atomic.Bool) (string, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	url, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		if answering.Load() {
			answer(completion("{}"))(w, r, release)
			return
		}
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	return url, arrived
}

func TestPerRequestTimeoutCountsAgainstTheEndpoint(t *testing.T) {
	url, _ := hangingServer(t, &atomic.Bool{})
	h := newHarness(t, Config{
		Endpoints: []string{url},
		Timeout:   100 * time.Millisecond,
		Breaker:   BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute},
	})
	_, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	// The failed attempt opened the breaker, so the retry found nothing.
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want the retry to report ErrUnavailable", err)
	}
	if st := h.client.States()[0].Breaker; st != BreakerOpen {
		t.Errorf("breaker %s after a timeout", st)
	}
	if r := h.obs.results(); len(r) == 0 || r[0] != ResultTimeout {
		t.Errorf("observed %v, want %s first", r, ResultTimeout)
	}
}

func TestCallerGivingUpIsNotCounted(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func(t *testing.T, arrived <-chan struct{}) context.Context
		wantErr error
	}{
		{
			name: "cancel",
			ctx: func(t *testing.T, arrived <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() { // ends at the first arrival or at cleanup
					select {
					case <-arrived:
					case <-ctx.Done():
					}
					cancel()
				}()
				return ctx
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var answering atomic.Bool
			url, arrived := hangingServer(t, &answering)
			h := newHarness(t, Config{
				Endpoints: []string{url},
				Timeout:   5 * time.Second,
				Breaker:   BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Minute},
			})
			_, err := h.client.Complete(tt.ctx(t, arrived), simpleRequest("n/s/1/locate"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if st := h.client.States()[0].Breaker; st != BreakerClosed {
				t.Fatalf("breaker %s: the caller's own give-up was counted", st)
			}
			if r := h.obs.results(); len(r) != 1 || r[0] != ResultCanceled {
				t.Errorf("observed %v, want [%s]", r, ResultCanceled)
			}
			answering.Store(true)
			if _, err := h.client.Complete(context.Background(), simpleRequest("n/s/2/locate")); err != nil {
				t.Errorf("next request failed: %v", err)
			}
		})
	}
}

// TestHungServerOpensTheBreakerWhateverTheDeadline: an attempt cut short by
// the caller's deadline counts as a timeout, so a server that never answers
// opens the breaker whether the caller's deadline is shorter or longer than
// the per-request timeout.
func TestHungServerOpensTheBreakerWhateverTheDeadline(t *testing.T) {
	tests := []struct{ timeout, deadline time.Duration }{
		{timeout: 5 * time.Second, deadline: 100 * time.Millisecond},
		{timeout: 100 * time.Millisecond, deadline: 5 * time.Second},
		{timeout: 150 * time.Millisecond, deadline: 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("timeout=%s,deadline=%s", tt.timeout, tt.deadline), func(t *testing.T) {
			url, _ := hangingServer(t, &atomic.Bool{})
			const failures = 3
			h := newHarness(t, Config{
				Endpoints: []string{url},
				Timeout:   tt.timeout,
				Breaker:   BreakerConfig{ConsecutiveFailures: failures, OpenFor: time.Minute},
			})
			for i := range failures {
				_, err := h.client.Complete(withTimeout(t, tt.deadline), simpleRequest(fmt.Sprintf("n/s/%d/locate", i)))
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("call %d: err = %v, want a deadline error", i, err)
				}
				if h.client.States()[0].Breaker == BreakerOpen {
					break
				}
			}
			if st := h.client.States()[0].Breaker; st != BreakerOpen {
				t.Fatalf("breaker %s after %d calls to a hung server", st, failures)
			}
			for _, r := range h.obs.results() {
				if r != ResultTimeout && r != ResultBreakerOpen {
					t.Errorf("observed %v, want only %s (and %s)", h.obs.results(), ResultTimeout, ResultBreakerOpen)
					break
				}
			}
			_, err := h.client.Complete(withTimeout(t, tt.deadline), simpleRequest("n/s/9/locate"))
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("with the breaker open: err = %v, want ErrUnavailable", err)
			}
		})
	}
}
