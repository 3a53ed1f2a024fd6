package mllm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
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
			Problem:     ep.problem(),
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
			switch {
			case errors.Is(err, ErrUnsupportedMedia):
				c.obs.Request("", req.Stage, ResultUnsupportedMedia, 0)
			case errors.Is(err, ErrUnavailable):
				c.obs.Request("", req.Stage, ResultBreakerOpen, 0)
			}
			sent := Response{Attempts: attempt - 1, Latency: time.Since(start)}
			if lastErr != nil {
				return sent, fmt.Errorf("%w; no retry: %w", failed(req.ID, attempt-1, lastErr), err)
			}
			return sent, fmt.Errorf("request %s: %w", req.ID, err)
		}

		id := attemptID(req.ID, attempt)
		began := time.Now()
		ar, err := c.attempt(ctx, res.ep, body, &req, id)
		took := time.Since(began)
		if ar.out == outcomeOK {
			res.ep.succeeded(took)
		}
		c.settleMedia(res, ar.out, err)
		c.release(res, ar.out.verdict(err))
		c.obs.Request(res.ep.name, req.Stage, ar.out.result(), took)
		if ar.out == outcomeOK {
			return Response{
				Choices:  ar.texts,
				Usage:    ar.usage,
				Endpoint: res.ep.name,
				Attempts: attempt,
				Latency:  time.Since(start),
			}, nil
		}
		c.log.Debug("model request attempt failed", "request_id", id, "endpoint", res.ep.name,
			"result", ar.out.result(), "duration", took, "error", err)

		lastErr = err
		sent := Response{Attempts: attempt, Latency: time.Since(start)}
		if attempt == maxAttempts {
			return sent, failed(req.ID, attempt, err)
		}
		var wait time.Duration
		switch {
		case ar.out == outcomeThrottled:
			wait = ar.retryAfter
			if wait == 0 {
				wait = retryBackoff(attempt)
			}
			if !waitFits(ctx, time.Now(), wait, c.cfg.Timeout) {
				return sent, fmt.Errorf("%w; it asked to retry after %s, which the caller's deadline does not allow", failed(req.ID, attempt, err), wait)
			}
		case ar.out.isFailure():
			wait = retryBackoff(attempt)
			if !retryFits(ctx, time.Now(), wait, c.cfg.Timeout) {
				return sent, failed(req.ID, attempt, err)
			}
		default:
			return sent, failed(req.ID, attempt, err)
		}
		if !sleep(ctx, wait) {
			return sent, failed(req.ID, attempt, err)
		}
		avoid = res.ep
	}
}

// settleMedia follows an endpoint's setup problem: the first answer that it
// cannot take the media logs the fix (once) and marks the endpoint, so that
// windows fail at once instead of sending it requests it refuses; a
// successful answer clears the mark. A marked endpoint gets one request
// every breaker open_for to see whether its server was fixed without a
// reload.
func (c *Client) settleMedia(res reservation, out outcome, err error) {
	var fix string
	var serr *StatusError
	if out == outcomeMedia && errors.As(err, &serr) {
		fix = serr.Fix
	}
	if !res.ep.settleMedia(res.mediaProbe, out, fix, time.Now().Add(c.cfg.Breaker.OpenFor)) {
		return
	}
	if fix != "" {
		c.log.Error("the model server cannot take the images or audio garssld sends; windows fail until it is fixed",
			"endpoint", res.ep.name, "fix", fix, "error", err)
	} else {
		c.log.Info("the model server takes garssld's media again", "endpoint", res.ep.name)
	}
	if po, ok := c.obs.(ProblemObserver); ok {
		po.EndpointProblem(res.ep.name, fix)
	}
}

// attemptID is the X-Request-Id of attempt n (1-based): retries carry
// "/a<n>" (design §4), because vLLM rejects an id that is still in flight
// and an attempt the client gave up on may still be running there.
func attemptID(id string, n int) string {
	if n < 2 {
		return id
	}
	return id + "/a" + strconv.Itoa(n)
}

// failed is Complete's error after attempts attempts: the request id once,
// then what the last attempt met.
func failed(id string, attempts int, err error) error {
	if attempts > 1 {
		return fmt.Errorf("request %s, attempt %d: %w", id, attempts, err)
	}
	return fmt.Errorf("request %s: %w", id, err)
}

// waitFits reports whether a wait the server asked for (429 Retry-After)
// ends before the caller's deadline, or, without a deadline, within one
// per-request timeout.
func waitFits(ctx context.Context, now time.Time, wait, perRequest time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok {
		return deadline.Sub(now) > wait
	}
	return wait <= perRequest
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
