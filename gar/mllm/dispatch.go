package mllm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
)

// reservation is an in-flight slot on an endpoint plus its breaker's
// permission; report must be called exactly once with the breaker verdict.
type reservation struct {
	ep     *endpoint
	report func(error)
	// mediaProbe: the request checks whether the endpoint's media problem
	// was fixed.
	mediaProbe bool
}

// acquire reserves a slot for the next attempt, waiting while every usable
// endpoint is at its cap. avoid, when not nil, is passed over unless it is the
// only endpoint with a free slot.
func (c *Client) acquire(ctx context.Context, avoid *endpoint) (reservation, error) {
	for {
		c.mu.Lock()
		res, err := c.pickLocked(avoid)
		if res.ep != nil || err != nil {
			c.mu.Unlock()
			return res, err
		}
		if c.slotFreed == nil {
			c.slotFreed = make(chan struct{})
		}
		wait := c.slotFreed
		c.mu.Unlock()

		select {
		case <-wait:
		case <-ctx.Done():
			return reservation{}, fmt.Errorf("waiting for a free model request slot: %w", ctx.Err())
		}
	}
}

// pickLocked chooses the least-loaded endpoint whose breaker admits a request
// and which has a free slot. It returns neither endpoint nor error when the
// caller has to wait for a slot or for a half-open probe's verdict, and
// ErrUnavailable when every breaker is open.
func (c *Client) pickLocked(avoid *endpoint) (reservation, error) {
	n := len(c.endpoints)
	refused := make([]bool, n) // half-open breakers whose probe is taken
	probing := false           // some refusal was a half-open probe in flight
	now := time.Now()
	checkFix := make([]bool, n) // marked for their media, but due a check
	for i, ep := range c.endpoints {
		blocked, due := ep.mediaBlocked(now)
		refused[i], checkFix[i] = blocked && !due, due
	}
	for {
		best, admitting := -1, false
		for k := range n {
			i := (c.next + k) % n
			ep := c.endpoints[i]
			if refused[i] || ep.breaker.State() == gobreaker.StateOpen {
				continue
			}
			admitting = true
			if int(ep.inFlight.Load()) >= c.cfg.MaxInFlight {
				continue
			}
			if best < 0 || preferred(ep, c.endpoints[best], avoid) {
				best = i
			}
		}
		if !admitting {
			if probing {
				// A probe is deciding whether the server is back; its
				// verdict comes within one request timeout, and failing
				// now would lose the first window after every outage.
				return reservation{}, nil
			}
			return reservation{}, c.unavailableError()
		}
		if best < 0 {
			return reservation{}, nil
		}
		ep := c.endpoints[best]
		report, err := ep.breaker.Allow()
		if err != nil {
			// Opened since State() or a half-open probe is already out.
			refused[best] = true
			probing = probing || errors.Is(err, gobreaker.ErrTooManyRequests)
			continue
		}
		ep.inFlight.Add(1)
		c.next = (best + 1) % n
		if checkFix[best] {
			ep.startMediaProbe()
		}
		return reservation{ep: ep, report: report, mediaProbe: checkFix[best]}, nil
	}
}

// preferred reports whether a beats b: not the endpoint to avoid first, then
// fewer requests in flight. Equal candidates keep the earlier one in rotation.
func preferred(a, b, avoid *endpoint) bool {
	if (a == avoid) != (b == avoid) {
		return b == avoid
	}
	return a.inFlight.Load() < b.inFlight.Load()
}

// release settles a reservation: the breaker learns the verdict first, so that
// woken waiters already see the new breaker state.
func (c *Client) release(res reservation, verdict error) {
	res.report(verdict)
	c.mu.Lock()
	res.ep.inFlight.Add(-1)
	if c.slotFreed != nil {
		close(c.slotFreed)
		c.slotFreed = nil
	}
	c.mu.Unlock()
}

// unavailableError says why no endpoint admits requests. When the only
// endpoints not open cannot take the media, it also wraps
// ErrUnsupportedMedia and names the fix.
func (c *Client) unavailableError() error {
	states := make([]string, len(c.endpoints))
	setup := false
	for i, ep := range c.endpoints {
		if fix := ep.problem(); fix != "" && ep.breaker.State() != gobreaker.StateOpen {
			states[i] = ep.name + " cannot take garssld's media; fix: " + fix
			setup = true
			continue
		}
		states[i] = ep.name + " " + breakerState(ep.breaker.State())
	}
	err := fmt.Errorf("%w: no endpoint admits requests (%s)", ErrUnavailable, strings.Join(states, ", "))
	if setup {
		err = fmt.Errorf("%w: %w", ErrUnsupportedMedia, err)
	}
	return err
}
