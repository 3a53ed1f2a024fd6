package publish

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/garssl/garssld/internal/backoff"
)

// Reconnect timing. paho's own backoff (1 s doubling to the cap) never
// shrinks while the broker keeps coming back for short periods: against a
// broker restarted every 20 s it waited 7 to 30 s, and missed whole
// up-periods. So paho is told to wait (almost) nothing, and redial waits
// before each attempt instead, from paho's connect loop (see wait).
const (
	// fastPhase is how long after a connection is lost attempts stay
	// frequent: a broker back within it is reached within fastDelay.
	fastPhase = 10 * time.Second
	// fastDelay is the longest wait between attempts in the fast phase
	// (jittered down to half).
	fastDelay = time.Second
	// stableAfter is how long a connection must last for the next outage
	// to start with fast attempts again. A broker that closes the
	// connection right away (another client with our id, an ACL
	// disconnect) keeps the backoff growing instead of causing a storm.
	stableAfter = 10 * time.Second
	// pahoDelay is what paho itself waits between attempts: its
	// backoff is capped at this, and its first-connection retry interval
	// is this.
	pahoDelay = time.Millisecond
)

// redial decides the wait before each connection attempt. paho calls
// wait synchronously at the start of every attempt, from its connect and
// reconnect loops, so the whole wait is one interruptible sleep and paho
// keeps its session, file store and message ids.
type redial struct {
	max time.Duration // mqtt.max_reconnect_interval

	mu          sync.Mutex
	slow        backoff.Policy
	outageStart time.Time // first attempt of the current outage
	lastAttempt time.Time
	now         func() time.Time // tests replace it
}

func newRedial(max time.Duration) *redial {
	return &redial{max: max, slow: backoff.Policy{Min: 2 * fastDelay, Max: max}, now: time.Now}
}

// delay is the wait before an attempt. attempt counts the failed attempts
// of the current paho loop; reconnect tells a reconnect loop (after a lost
// connection) from the first connection's.
func (r *redial) delay(reconnect bool, attempt int) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	last := r.lastAttempt
	r.lastAttempt = now
	if attempt == 0 && (!reconnect || r.outageStart.IsZero() || now.Sub(last) >= stableAfter) {
		// A new outage after a connection that lasted (the attempt that
		// made it was the last one), or the first connection: try now.
		r.outageStart = now
		r.slow.Reset()
		return 0
	}
	if now.Sub(r.outageStart) < fastPhase {
		return fastDelay/2 + rand.N(fastDelay/2+1)
	}
	return r.slow.Next()
}

// wait sleeps for the delay before an attempt, or until stop is closed.
func (r *redial) wait(reconnect bool, attempt int, stop <-chan struct{}) {
	d := r.delay(reconnect, attempt)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}
