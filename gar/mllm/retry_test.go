package mllm

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestRetriesStayWithinTheCallersDeadline(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration // 0: no deadline
		wantHits int64
	}{
		{"no deadline: up to three attempts", time.Second, 0, maxAttempts},
		{"deadline leaves a whole timeout", 300 * time.Millisecond, 5 * time.Second, maxAttempts},
		{"deadline shorter than the timeout: no retry", 2 * time.Second, time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, hits := testServer(t, fail(http.StatusBadGateway, "upstream gone"))
			h := newHarness(t, Config{
				Endpoints: []string{url},
				Timeout:   tt.timeout,
				Breaker:   BreakerConfig{ConsecutiveFailures: 10},
			})
			ctx := context.Background()
			if tt.deadline > 0 {
				ctx = withTimeout(t, tt.deadline)
			}
			_, err := h.client.Complete(ctx, simpleRequest("n/s/1/refine"))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != http.StatusBadGateway {
				t.Fatalf("err = %v, want HTTP 502", err)
			}
			if n := hits.Load(); n != tt.wantHits {
				t.Errorf("%d attempts, want %d", n, tt.wantHits)
			}
		})
	}
}

func TestRetryBackoffIsBoundedAndJittered(t *testing.T) {
	for attempt, bounds := range map[int][2]time.Duration{
		1: {50 * time.Millisecond, 100 * time.Millisecond},
		2: {100 * time.Millisecond, 200 * time.Millisecond},
		5: {100 * time.Millisecond, 200 * time.Millisecond},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := retryBackoff(attempt)
			if d < bounds[0] || d >= bounds[1] {
				t.Fatalf("backoff after attempt %d = %v, outside [%v, %v)", attempt, d, bounds[0], bounds[1])
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff after attempt %d is not jittered", attempt)
		}
	}
}
