package schedule

import (
	"math"
	"slices"
	"time"
)

// Service estimate: how long one window's GAR loop takes, from the last
// estimateWindows windows that reached the model, over every stream (the
// endpoints serve all streams together, so there is one estimate, not one
// per stream or endpoint). It is their estimateQuantile quantile (nearest
// rank): a window is started only when it has at least that much time left
// before it turns stale, so a high quantile keeps model requests from being
// spent on windows cut before they finish, and the two slowest of twenty do
// not hold every window back.
const (
	estimateWindows  = 20
	estimateQuantile = 0.9
)

// serviceEstimate is a ring of recent GAR times; the zero value has none.
type serviceEstimate struct {
	samples [estimateWindows]time.Duration
	n, next int
}

func (e *serviceEstimate) add(d time.Duration) {
	e.samples[e.next] = d
	e.next = (e.next + 1) % estimateWindows
	e.n = min(e.n+1, estimateWindows)
}

// reset forgets every sample but d.
func (e *serviceEstimate) reset(d time.Duration) {
	*e = serviceEstimate{}
	e.add(d)
}

// value is the quantile of the samples, and false while there are none.
func (e *serviceEstimate) value() (time.Duration, bool) {
	if e.n == 0 {
		return 0, false
	}
	sorted := slices.Clone(e.samples[:e.n])
	slices.Sort(sorted)
	rank := int(math.Ceil(float64(e.n) * estimateQuantile)) // nearest rank, from 1
	return sorted[max(rank, 1)-1], true
}
