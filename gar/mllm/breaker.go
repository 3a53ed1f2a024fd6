package mllm

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sony/gobreaker/v2"
)

// breaker wraps gobreaker's two-step breaker to give it an open time that
// grows: the first opening lasts OpenMin, each failed probe doubles it up to
// OpenFor, and closing resets it. gobreaker's Timeout is fixed, so it is set
// to OpenMin, the shortest open time, and the wrapper holds the breaker open
// for the rest: while the hold lasts it answers "open" without asking
// gobreaker, and gobreaker (whose own OpenMin has run out by then) moves to
// half-open at the first question after the hold. Wrapping was chosen over
// rebuilding a breaker per level because a rebuilt breaker starts closed and
// would have to be tripped with made-up failures, and because in-flight
// requests would report to a breaker no longer consulted; wrapped, gobreaker
// keeps its generations, which is what makes requests failing together count
// once: the first failures open the breaker, and the reports of the other
// requests of that closed generation are ignored, so only a failed half-open
// probe (one at a time) lengthens the open time.
type breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openMin time.Duration
	openMax time.Duration

	// holdUntil is the end of the current open time in Unix nanoseconds,
	// set under gobreaker's lock by the state-change callback.
	holdUntil atomic.Int64
	mu        sync.Mutex    // guards level
	level     time.Duration // the open time of the current or next opening
}

func newBreaker(name string, cfg BreakerConfig, log hclog.Logger, onState func(string)) *breaker {
	b := &breaker{openMin: cfg.OpenMin, openMax: cfg.OpenFor, level: cfg.OpenMin}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     cfg.OpenMin,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.ConsecutiveFailures
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errNotCounted) },
		// Runs under gobreaker's lock exactly once per transition, which is
		// what makes "log once per change" hold.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateOpen:
				openFor := b.opened(from == gobreaker.StateHalfOpen)
				log.Warn("circuit breaker state changed", "from", breakerState(from), "to", breakerState(to), "probe_in", openFor)
			case gobreaker.StateClosed:
				b.mu.Lock()
				b.level = b.openMin
				b.mu.Unlock()
				log.Info("circuit breaker state changed", "from", breakerState(from), "to", breakerState(to))
			default:
				log.Info("circuit breaker state changed", "from", breakerState(from), "to", breakerState(to))
			}
			onState(breakerState(to))
		},
	})
	return b
}

// opened starts an open time and returns its length: OpenMin after the
// breaker tripped from closed, twice the last one (capped) after a failed
// probe.
func (b *breaker) opened(probeFailed bool) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probeFailed {
		b.level = min(2*b.level, b.openMax)
	} else {
		b.level = b.openMin
	}
	b.holdUntil.Store(time.Now().Add(b.level).UnixNano())
	return b.level
}

// held reports whether the wrapper still holds the breaker open. A caller
// that read an expired hold just before a new opening set one reaches
// gobreaker while its own OpenMin runs, so it is refused there; only a
// caller stalled for OpenMin between the two could probe early.
func (b *breaker) held() bool { return time.Now().UnixNano() < b.holdUntil.Load() }

// State is the breaker's state, open while held.
func (b *breaker) State() gobreaker.State {
	if b.held() {
		return gobreaker.StateOpen
	}
	return b.cb.State()
}

// Allow asks for permission to send a request, like gobreaker's.
func (b *breaker) Allow() (func(error), error) {
	if b.held() {
		return nil, gobreaker.ErrOpenState
	}
	return b.cb.Allow()
}
