package mllm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxAttempts caps the attempts of one Complete call, the first included.
const maxAttempts = 3

// Client sends chat completions to a set of endpoints. It is safe for
// concurrent use.
type Client struct {
	cfg       Config
	auth      string // Authorization header value; never logged
	http      *http.Client
	log       hclog.Logger
	obs       Observer
	endpoints []*endpoint

	mu        sync.Mutex
	next      int           // rotation start for tie-breaking
	slotFreed chan struct{} // closed on release when someone waits; nil otherwise
}

// New validates cfg, reads the API key file and builds a Client. A nil logger
// discards logs; a nil obs discards measurements.
func New(cfg Config, logger hclog.Logger, obs Observer) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mllm config: %w", err)
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if obs == nil {
		obs = NopObserver{}
	}
	c := &Client{cfg: cfg, log: logger, obs: obs}
	if cfg.APIKeyFile != "" {
		if c.auth, err = readAPIKey(cfg.APIKeyFile); err != nil {
			return nil, fmt.Errorf("mllm config: %w", err)
		}
	}
	seen := make(map[string]bool, len(cfg.Endpoints))
	for _, raw := range cfg.Endpoints {
		urls, err := parseEndpoint(raw)
		if err != nil {
			return nil, fmt.Errorf("mllm config: %w", err)
		}
		if seen[urls.post] {
			return nil, fmt.Errorf("mllm config: endpoint %s listed twice", urls.name)
		}
		seen[urls.post] = true
		c.endpoints = append(c.endpoints, newEndpoint(urls, cfg.Breaker, logger, obs))
	}
	c.http = cfg.HTTPClient
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport(cfg.MaxInFlight, len(c.endpoints))}
	}
	for _, ep := range c.endpoints {
		obs.BreakerState(ep.name, BreakerClosed)
	}
	return c, nil
}

// newTransport sizes the idle pool so that a full complement of in-flight
// requests can reuse connections instead of redialling (the default keeps 2
// idle connections per host).
func newTransport(maxInFlight, endpoints int) http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = maxInFlight
	t.MaxIdleConns = max(t.MaxIdleConns, maxInFlight*endpoints)
	return t
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// States describes every endpoint, in configuration order.
func (c *Client) States() []EndpointState {
	states := make([]EndpointState, len(c.endpoints))
	for i, ep := range c.endpoints {
		states[i] = EndpointState{
			Endpoint:    ep.name,
			Breaker:     breakerState(ep.breaker.State()),
			InFlight:    int(ep.inFlight.Load()),
			MaxInFlight: c.cfg.MaxInFlight,
		}
	}
	return states
}

// Complete sends req and returns its choices. On error the Response still
// says how many attempts reached a server (Attempts) and how long it took.
// Errors are *StatusError for HTTP
// error statuses, wrap ErrUnavailable when no endpoint admits requests, wrap
// ErrBadResponse for malformed answers, wrap context.DeadlineExceeded for
// per-request timeouts, and wrap the caller's ctx.Err() when it gave up.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	start := time.Now()
	if err := req.validate(); err != nil {
		return Response{}, err
	}
	body, err := appendBody(make([]byte, 0, bodySize(c.cfg.Model, &req)), c.cfg.Model, &req, c.cfg.StructuredOutput)
	if err != nil {
		return Response{}, err
	}
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("request %s: %w", req.ID, err)
	}

	var avoid *endpoint
	var lastErr error
	for attempt := 1; ; attempt++ {
		res, err := c.acquire(ctx, avoid)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				c.obs.Request("", req.Stage, ResultBreakerOpen, 0)
			}
			err = fmt.Errorf("request %s: %w", req.ID, err)
			sent := Response{Attempts: attempt - 1, Latency: time.Since(start)}
			if lastErr != nil {
				return sent, fmt.Errorf("%w; no retry: %w", lastErr, err)
			}
			return sent, err
		}

		began := time.Now()
		texts, usage, out, err := c.attempt(ctx, res.ep, body, &req)
		took := time.Since(began)
		c.release(res, out.verdict(err))
		c.obs.Request(res.ep.name, req.Stage, out.result(), took)
		if out == outcomeOK {
			return Response{
				Choices:  texts,
				Usage:    usage,
				Endpoint: res.ep.name,
				Attempts: attempt,
				Latency:  time.Since(start),
			}, nil
		}
		c.log.Debug("model request attempt failed", "request_id", req.ID, "endpoint", res.ep.name,
			"result", out.result(), "attempt", attempt, "duration", took, "error", err)

		lastErr = err
		sent := Response{Attempts: attempt, Latency: time.Since(start)}
		if !out.isFailure() || attempt == maxAttempts {
			return sent, err
		}
		backoff := retryBackoff(attempt)
		if !retryFits(ctx, time.Now(), backoff, c.cfg.Timeout) || !sleep(ctx, backoff) {
			return sent, err
		}
		avoid = res.ep
	}
}

// retryBackoff is the pause after failed attempt n (1-based): uniform in
// [50ms, 100ms) after the first, [100ms, 200ms) after the second.
func retryBackoff(n int) time.Duration {
	base := 50 * time.Millisecond << (n - 1)
	base = min(base, 100*time.Millisecond)
	return base + rand.N(base)
}

// retryFits reports whether the caller's deadline, if any, still leaves a
// whole per-request timeout after the backoff.
func retryFits(ctx context.Context, now time.Time, backoff, perRequest time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || deadline.Sub(now)-backoff >= perRequest
}

// sleep waits for d unless ctx ends first, and reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
