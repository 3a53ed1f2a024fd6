package mllm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

// freshCtx is a window's context as the scheduler gives it when the
// window's freshness budget is the nearer deadline.
func freshCtx(t *testing.T, budget time.Duration) context.Context {
	ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now().Add(budget), ErrFreshness)
	t.Cleanup(cancel)
	return ctx
}

// locateRequest is a locate request omnisim accepts: it needs an image.
func locateRequest(t *testing.T, id string) Request {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 56, 56))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return Request{ID: id, Stage: "locate", System: "sys", Text: "where?", ImageJPEG: buf.Bytes()}
}

// simConfig is omnisim answering a text request after about latency.
func simConfig(latency time.Duration) omnisim.Config {
	cfg := omnisim.DefaultConfig()
	cfg.BaseMs = float64(latency.Milliseconds())
	cfg.PrefillMsPerToken, cfg.DecodeMsPerToken, cfg.BatchSlowdown = 0, 0, 0
	cfg.TimeScale = 1
	if latency == 0 {
		cfg.TimeScale = 0
	}
	return cfg
}

// TestFreshnessCutIsNotAnEndpointFailure is issue 13's item 2: windows that
// start with too little budget for a healthy server are cut by their own
// freshness deadline, counted as "deadline", and leave the breaker closed
// even when a single failure would open it.
func TestFreshnessCutIsNotAnEndpointFailure(t *testing.T) {
	_, url := omnisimtest.Serve(t, simConfig(time.Second), nil)
	h := newHarness(t, Config{Endpoints: []string{url}, Breaker: BreakerConfig{ConsecutiveFailures: 1}})
	for i := range 3 {
		_, err := h.client.Complete(freshCtx(t, 300*time.Millisecond), locateRequest(t, fmt.Sprintf("n/s/%d/locate", i)))
		if !errors.Is(err, ErrFreshness) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("window %d: err = %v, want a cut for freshness", i, err)
		}
	}
	if st := h.client.States()[0].Breaker; st != BreakerClosed {
		t.Fatalf("breaker %s after three freshness cuts of a healthy server", st)
	}
	want := []string{ResultDeadline, ResultDeadline, ResultDeadline}
	if got := h.obs.results(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("observed %v, want %v", got, want)
	}
	if _, err := h.client.Complete(freshCtx(t, 10*time.Second), locateRequest(t, "n/s/9/locate")); err != nil {
		t.Errorf("a fresh window after the cuts: %v", err)
	}
}

// TestHungServerTripsThroughFreshnessCuts: with the default client settings
// (mllm.timeout 20 s, longer than the default stale_after 10 s) a hung
// server is only ever cut by freshness; the cuts of requests out longer than
// the hung threshold still open its breaker within consecutive_failures
// requests.
func TestHungServerTripsThroughFreshnessCuts(t *testing.T) {
	sim, url := omnisimtest.Serve(t, simConfig(0), nil)
	h := newHarness(t, Config{Endpoints: []string{url}})
	for i := range 3 { // recent successes: the threshold is the 2 s floor
		if _, err := h.client.Complete(freshCtx(t, 10*time.Second), locateRequest(t, fmt.Sprintf("n/s/%d/locate", i))); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
	}
	if err := sim.SetFaults(omnisim.Faults{TimeoutRate: 1}); err != nil {
		t.Fatal(err)
	}
	// The windows' budget is above the floor by a margin a loaded machine
	// cannot eat; they run together, as the scheduler's slots do.
	budget := hungFloor + time.Second
	var wg sync.WaitGroup
	for i := range DefaultConsecutiveFailures {
		ctx, req := freshCtx(t, budget), locateRequest(t, fmt.Sprintf("n/s/%d/locate", 10+i))
		wg.Go(func() {
			_, err := h.client.Complete(ctx, req)
			if !errors.Is(err, ErrFreshness) {
				t.Errorf("window %d: err = %v, want a cut for freshness", i, err)
			}
		})
	}
	wg.Wait()
	if st := h.client.States()[0].Breaker; st != BreakerOpen {
		t.Fatalf("breaker %s after %d freshness cuts of a hung server", st, DefaultConsecutiveFailures)
	}
	results := h.obs.results()[3:]
	for _, r := range results {
		if r != ResultDeadline {
			t.Errorf("observed %v after the warm-up, want only %s", results, ResultDeadline)
			break
		}
	}
	if _, err := h.client.Complete(freshCtx(t, budget), locateRequest(t, "n/s/20/locate")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("next window: err = %v, want ErrUnavailable", err)
	}
}

func TestHungAfterIsThreeTimesTheRecentP90(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		took []time.Duration
		want time.Duration
	}{
		{"no success yet", nil, hungFloor},
		{"fast server: the floor", []time.Duration{ms(100), ms(200)}, hungFloor},
		{"one slow success is the p90 of few", []time.Duration{ms(500), ms(900), ms(1000)}, ms(3000)},
		{"p90 of ten ignores nothing but the top", []time.Duration{ms(100), ms(100), ms(100), ms(100), ms(100), ms(100), ms(100), ms(100), ms(1000), ms(5000)}, ms(3000)},
		{"only the last 20 count", append(repeat(ms(4000), 5), repeat(ms(800), recentOK)...), ms(2400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ep endpoint
			for _, d := range tt.took {
				ep.succeeded(d)
			}
			if got := ep.hungAfter(); got != tt.want {
				t.Errorf("hungAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
