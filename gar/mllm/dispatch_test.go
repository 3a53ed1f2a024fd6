package mllm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deadEndpoint returns a base URL on 127.0.0.1 where nothing listens.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/v1"
}

func TestTransportErrorNamesEndpointAndRequest(t *testing.T) {
	dead := deadEndpoint(t)
	h := newHarness(t, Config{Endpoints: []string{dead}, Timeout: 2 * time.Second})
	_, err := h.client.Complete(withTimeout(t, time.Second), simpleRequest("robot-7/front/42/locate"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want connection refused", err)
	}
	prefix := "request robot-7/front/42/locate: post " + dead + "/chat/completions: "
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error %q does not start with %q", err, prefix)
	}
	if r := h.obs.results(); len(r) != 1 || r[0] != ResultTransport {
		t.Errorf("observed %v, want [%s]", r, ResultTransport)
	}
}

func TestRequestsFailOverFromADeadEndpoint(t *testing.T) {
	dead := deadEndpoint(t)
	live, liveHits := testServer(t, answer(completion("{}")))
	h := newHarness(t, Config{
		Endpoints: []string{dead, live},
		Breaker:   BreakerConfig{ConsecutiveFailures: 2, OpenFor: time.Minute},
	})
	const calls = 6
	for i := range calls {
		resp, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.Endpoint != live {
			t.Errorf("call %d answered by %s", i, resp.Endpoint)
		}
		// The first call ties and so starts at the first (dead) endpoint.
		if i == 0 && resp.Attempts != 2 {
			t.Errorf("first call took %d attempts, want 2", resp.Attempts)
		}
	}
	if n := liveHits.Load(); n != calls {
		t.Errorf("live endpoint got %d requests, want %d", n, calls)
	}
	if st := h.client.States()[0]; st.Endpoint != dead || st.Breaker != BreakerOpen {
		t.Errorf("dead endpoint state %+v, want open", st)
	}
}

// gatedServer holds every request until gate is closed (or cleanup) and
// signals each arrival.
func gatedServer(t *testing.T, gate <-chan struct{}) (string, *atomic.Int64, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 64)
	url, hits := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-release:
		case <-r.Context().Done():
			return
		}
		answer(completion("{}"))(w, r, release)
	})
	return url, hits, arrived
}

// background starts n Complete calls. At cleanup their context is cancelled,
// so that a failed test cannot leave them hanging, and they are waited for.
func background(t *testing.T, c *Client, n int) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.Complete(ctx, simpleRequest(fmt.Sprintf("n/s/%d/locate", i)))
			errs <- err
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return errs
}

// arrival waits for a signal on one of chans, failing the test after 2 s.
func arrival(t *testing.T, chans ...<-chan struct{}) {
	t.Helper()
	timeout := time.After(2 * time.Second)
	for {
		for _, ch := range chans {
			select {
			case <-ch:
				return
			default:
			}
		}
		select {
		case <-timeout:
			t.Fatal("request never arrived")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestLeastLoadedEndpointWins(t *testing.T) {
	t.Run("busy endpoint is passed over", func(t *testing.T) {
		gate := make(chan struct{})
		slow, slowHits, slowArrived := gatedServer(t, gate)
		fast, fastHits := testServer(t, answer(completion("{}")))
		h := newHarness(t, Config{Endpoints: []string{slow, fast}})
		// Tie at the start: the first endpoint in the list gets it and holds it.
		errs := background(t, h.client, 1)
		arrival(t, slowArrived)
		const calls = 10
		for i := range calls {
			resp, err := h.client.Complete(withTimeout(t, 2*time.Second), simpleRequest("n/s/1/locate"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Endpoint != fast {
				t.Fatalf("call %d went to the busy endpoint", i)
			}
		}
		if s, f := slowHits.Load(), fastHits.Load(); s != 1 || f != calls {
			t.Errorf("busy endpoint got %d, idle one %d; want 1 and %d", s, f, calls)
		}
		close(gate)
		if err := <-errs; err != nil {
			t.Errorf("held request: %v", err)
		}
	})

	t.Run("concurrent load is balanced", func(t *testing.T) {
		gate := make(chan struct{})
		a, aHits, aArrived := gatedServer(t, gate)
		b, bHits, bArrived := gatedServer(t, gate)
		h := newHarness(t, Config{Endpoints: []string{a, b}, MaxInFlight: 8})
		const held = 6
		var pending []<-chan error
		for range held {
			// Start one at a time so that each choice sees the previous load.
			pending = append(pending, background(t, h.client, 1))
			arrival(t, aArrived, bArrived)
		}
		if an, bn := aHits.Load(), bHits.Load(); an != held/2 || bn != held/2 {
			t.Errorf("in flight: %d and %d, want %d each", an, bn, held/2)
		}
		for _, st := range h.client.States() {
			if st.InFlight != held/2 {
				t.Errorf("%s reports %d in flight, want %d", st.Endpoint, st.InFlight, held/2)
			}
		}
		close(gate)
		for _, errs := range pending {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

func TestMaxInFlightCapsConcurrentRequests(t *testing.T) {
	var current, peak atomic.Int64
	url, hits := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		n := current.Add(1)
		defer current.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		answer(completion("{}"))(w, r, release)
	})
	const limit, calls = 2, 8
	h := newHarness(t, Config{Endpoints: []string{url}, MaxInFlight: limit})
	errs := background(t, h.client, calls)
	for range calls {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p != limit {
		t.Errorf("peak concurrency %d, want %d", p, limit)
	}
	if n := hits.Load(); n != calls {
		t.Errorf("%d requests served, want %d", n, calls)
	}
	if st := h.client.States()[0]; st.InFlight != 0 || st.MaxInFlight != limit {
		t.Errorf("state after the burst %+v", st)
	}
}

func TestWaitingForASlotHonoursTheContext(t *testing.T) {
	gate := make(chan struct{})
	url, hits, arrived := gatedServer(t, gate)
	h := newHarness(t, Config{Endpoints: []string{url}, MaxInFlight: 1})
	errs := background(t, h.client, 1)
	arrival(t, arrived)
	_, err := h.client.Complete(withTimeout(t, 50*time.Millisecond), simpleRequest("n/s/2/locate"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
	close(gate)
	if err := <-errs; err != nil {
		t.Error(err)
	}
	// The slot is free again.
	if _, err := h.client.Complete(context.Background(), simpleRequest("n/s/3/locate")); err != nil {
		t.Error(err)
	}
}

func TestRetryPrefersAnotherEndpointEvenWhenBusier(t *testing.T) {
	dead := deadEndpoint(t)
	gate := make(chan struct{})
	held := make(chan struct{}, 1)
	live, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		if strings.HasPrefix(r.Header.Get("X-Request-Id"), "n/s/0/locate") {
			held <- struct{}{}
			select {
			case <-gate:
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		answer(completion("{}"))(w, r, release)
	})
	h := newHarness(t, Config{
		Endpoints: []string{dead, live},
		Breaker:   BreakerConfig{ConsecutiveFailures: 10},
	})
	// Occupy the live endpoint first. The first pick is a tie that goes to the
	// dead endpoint; the retry lands on the live one and stays there.
	errs := background(t, h.client, 1)
	arrival(t, held)
	// Now the dead endpoint is the less loaded one, and is tried first.
	resp, err := h.client.Complete(withTimeout(t, time.Minute), simpleRequest("n/s/1/locate"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Endpoint != live || resp.Attempts != 2 {
		t.Errorf("answered by %s after %d attempts, want %s after 2", resp.Endpoint, resp.Attempts, live)
	}
	close(gate)
	if err := <-errs; err != nil {
		t.Error(err)
	}
}
