package mllm

import (
	"context"
	"errors"
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
		{
			name: "caller deadline shorter than the request timeout",
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				return withTimeout(t, 100*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
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
