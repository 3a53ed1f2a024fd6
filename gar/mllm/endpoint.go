package mllm

import (
	"errors"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/sony/gobreaker/v2"
)

// endpoint is one model server with its breaker and in-flight count.
type endpoint struct {
	endpointURLs
	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	// inFlight is changed only under Client.mu but read without it.
	inFlight atomic.Int32
}

// EndpointState describes an endpoint for metrics and health checks.
type EndpointState struct {
	Endpoint    string // display form of the base URL
	Breaker     string // BreakerClosed, BreakerHalfOpen or BreakerOpen
	InFlight    int
	MaxInFlight int
}

func newEndpoint(urls endpointURLs, cfg BreakerConfig, logger hclog.Logger, obs Observer) *endpoint {
	log := logger.Named("endpoint").With("endpoint", urls.name)
	ep := &endpoint{endpointURLs: urls}
	ep.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        urls.name,
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.ConsecutiveFailures
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errNotCounted) },
		// Runs under the breaker's lock exactly once per transition, which
		// is what makes "log once per change" hold.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			level := hclog.Info
			if to == gobreaker.StateOpen {
				level = hclog.Warn
			}
			log.Log(level, "circuit breaker state changed", "from", breakerState(from), "to", breakerState(to))
			obs.BreakerState(urls.name, breakerState(to))
		},
	})
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
