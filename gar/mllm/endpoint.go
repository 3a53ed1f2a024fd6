package mllm

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sony/gobreaker/v2"
)

// endpoint is one model server with its breaker and in-flight count.
type endpoint struct {
	endpointURLs
	breaker *breaker
	// inFlight is changed only under Client.mu but read without it.
	inFlight atomic.Int32

	mu sync.Mutex
	// took holds the durations of the last successful requests, a ring.
	took [recentOK]time.Duration
	nOK  int // successful requests seen, for the ring's position and fill
	// mediaFix is set while the endpoint has said it cannot take garssld's
	// media: what to change on the server. Requests pass it over, except
	// one at mediaRetry, to learn whether the server was fixed.
	mediaFix   string
	mediaRetry time.Time
	mediaProbe bool // that one request is out
}

// mediaBlocked reports whether requests must pass the endpoint over for its
// setup problem, and whether one may go now to see if it was fixed.
func (ep *endpoint) mediaBlocked(now time.Time) (blocked, due bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.mediaFix == "" {
		return false, false
	}
	return true, !ep.mediaProbe && !now.Before(ep.mediaRetry)
}

// startMediaProbe records that the one request that checks a fix is out.
func (ep *endpoint) startMediaProbe() {
	ep.mu.Lock()
	ep.mediaProbe = true
	ep.mu.Unlock()
}

// settleMedia records what an attempt said about the endpoint's media
// support and reports whether that changed: the endpoint refused the media
// (fix set) or took them (fix ""). retry is when to check a fix again.
func (ep *endpoint) settleMedia(probe bool, out outcome, fix string, retry time.Time) (changed bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if probe {
		ep.mediaProbe = false
	}
	switch {
	case out == outcomeMedia:
		changed = ep.mediaFix == ""
		ep.mediaFix, ep.mediaRetry = fix, retry
	case out == outcomeOK:
		changed = ep.mediaFix != ""
		ep.mediaFix = ""
	case probe:
		ep.mediaRetry = retry // the probe learnt nothing; try again later
	}
	return changed
}

// problem is the endpoint's setup problem, "" when it has none.
func (ep *endpoint) problem() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.mediaFix
}

// recentOK is how many successful requests' durations an endpoint keeps to
// judge whether a request cut for freshness had been out abnormally long.
const recentOK = 20

// Hung-server rule: a request cut for the window's freshness counts against
// the endpoint when it had been out longer than hungFactor times the p90 of
// the endpoint's recent successful requests, and at least hungFloor. Below
// that it is ordinary overload; above, the server is not answering (with the
// defaults stale_after < mllm.timeout, so this is how a hung server trips).
const (
	hungFactor = 3
	hungFloor  = 2 * time.Second
)

// succeeded records a successful request's duration.
func (ep *endpoint) succeeded(d time.Duration) {
	ep.mu.Lock()
	ep.took[ep.nOK%recentOK] = d
	ep.nOK++
	ep.mu.Unlock()
}

// hungAfter is how long a request must have been out for a freshness cut to
// count against the endpoint: hungFactor × p90 of its recent successes, and
// at least hungFloor (all there is before its first success).
func (ep *endpoint) hungAfter() time.Duration {
	ep.mu.Lock()
	n := min(ep.nOK, recentOK)
	recent := slices.Clone(ep.took[:n])
	ep.mu.Unlock()
	if n == 0 {
		return hungFloor
	}
	slices.Sort(recent)
	// Nearest rank: the smallest duration at or above 90 % of them.
	p90 := recent[(9*n+9)/10-1]
	return max(hungFactor*p90, hungFloor)
}

// EndpointState describes an endpoint for metrics and health checks.
type EndpointState struct {
	Endpoint    string // display form of the base URL
	Breaker     string // BreakerClosed, BreakerHalfOpen or BreakerOpen
	InFlight    int
	MaxInFlight int
	// Problem says what to fix on the server when the endpoint cannot serve
	// garssld for its setup (ErrUnsupportedMedia); "" otherwise.
	Problem string
}

func newEndpoint(urls endpointURLs, cfg BreakerConfig, logger hclog.Logger, obs Observer) *endpoint {
	log := logger.Named("endpoint").With("endpoint", urls.name)
	ep := &endpoint{endpointURLs: urls}
	ep.breaker = newBreaker(urls.name, cfg, log, func(state string) { obs.BreakerState(urls.name, state) })
	return ep
}

func breakerState(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}
