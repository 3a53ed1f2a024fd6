package mllm

import "time"

// Results reported to Observer.Request.
const (
	ResultOK      = "ok"
	ResultHTTP4xx = "http_4xx"
	// ResultThrottled is HTTP 429: the server is up and busy and asks to
	// wait. It is neither a failure nor a refusal of garssld's requests.
	ResultThrottled = "throttled"
	ResultHTTP5xx   = "http_5xx"
	// ResultTimeout is the expiry of Config.Timeout or of a caller's
	// deadline other than its freshness budget.
	ResultTimeout = "timeout"
	// ResultDeadline is a request cut because its window's freshness budget
	// ran out (context cause ErrFreshness). It is not held against the
	// endpoint unless the request had been out abnormally long (see
	// ErrFreshness).
	ResultDeadline    = "deadline"
	ResultTransport   = "transport"
	ResultBadResponse = "bad_response"
	ResultCanceled    = "canceled"
	ResultBreakerOpen = "breaker_open"
	// ResultUnsupportedMedia is an endpoint answering that it cannot take
	// garssld's images or audio (ErrUnsupportedMedia): a setup problem,
	// neither counted by the breaker nor retried. With an empty endpoint, a
	// request refused because every usable endpoint has that problem.
	ResultUnsupportedMedia = "unsupported_media"
)

// Breaker states reported to Observer.BreakerState and in EndpointState.
const (
	BreakerClosed   = "closed"
	BreakerHalfOpen = "half-open"
	BreakerOpen     = "open"
)

// Observer receives the client's measurements; the daemon backs it with
// Prometheus metrics. Methods are called synchronously from request paths and
// from inside breaker transitions, so they must be quick and must not call
// back into the Client.
type Observer interface {
	// Request reports one attempt. endpoint is empty for ResultBreakerOpen,
	// when no endpoint could be chosen.
	Request(endpoint, stage, result string, d time.Duration)
	// BreakerState reports the initial state of each endpoint's breaker at New
	// and every change after that.
	BreakerState(endpoint, state string)
}

// ProblemObserver is an Observer that also follows endpoints' setup
// problems; the client calls it when the Observer given to New implements
// it.
type ProblemObserver interface {
	// EndpointProblem reports that an endpoint cannot serve garssld until
	// its server is set up differently, saying what to fix, or that it can
	// again (problem "").
	EndpointProblem(endpoint, problem string)
}

// NopObserver discards everything; New uses it when given a nil Observer.
type NopObserver struct{}

// Request implements Observer.
func (NopObserver) Request(string, string, string, time.Duration) {}

// BreakerState implements Observer.
func (NopObserver) BreakerState(string, string) {}
