// Package waittest waits in tests for something that happens on another
// goroutine or in another process: it polls a condition until it holds or
// a deadline passes. Tests run on a loaded machine, so callers give
// generous deadlines; polling returns as soon as the condition holds, so a
// generous deadline costs nothing when all is well.
package waittest

import (
	"testing"
	"time"
)

// pollEvery is the pause between two looks at the condition. Some
// conditions are costly (decoding every MQTT message received so far,
// scraping /metrics), and tests run under the race detector on a loaded
// machine: looking more often would steal the CPU the code under test
// needs, for a few milliseconds of reaction nobody measures.
const pollEvery = 25 * time.Millisecond

// For polls cond until it holds, and fails tb (naming what it waited for)
// when timeout passes first.
func For(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}
