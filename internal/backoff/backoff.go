// Package backoff computes capped, jittered exponential delays for
// reconnecting to things that fail: cameras, microphones, brokers.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy doubles a delay from Min up to Max. Each delay is drawn uniformly
// from [d/2, d] ("equal jitter"), so a fleet of robots that lost the same
// camera server does not reconnect in lockstep, while the wait still grows.
type Policy struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next attempt and advances the policy.
func (p *Policy) Next() time.Duration {
	d := p.Min
	for i := 0; i < p.attempt && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	if d <= 0 {
		return 0
	}
	p.attempt++
	half := d / 2
	return half + rand.N(d-half+1)
}

// Reset starts the sequence again at Min; call it once the thing works.
func (p *Policy) Reset() { p.attempt = 0 }
