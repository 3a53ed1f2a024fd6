package backoff

import (
	"testing"
	"time"
)

func TestPolicyDoublesWithinJitterAndCaps(t *testing.T) {
	p := Policy{Min: time.Second, Max: 30 * time.Second}
	ceilings := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i, c := range ceilings {
		ceil := c * time.Second
		got := p.Next()
		if got < ceil/2 || got > ceil {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, got, ceil/2, ceil)
		}
	}
	p.Reset()
	if got := p.Next(); got < 500*time.Millisecond || got > time.Second {
		t.Fatalf("after Reset: delay %v outside [0.5s, 1s]", got)
	}
}

func TestPolicyJitters(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		p := Policy{Min: time.Second, Max: 30 * time.Second}
		seen[p.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 first delays took only %d distinct values; jitter is missing", len(seen))
	}
}
