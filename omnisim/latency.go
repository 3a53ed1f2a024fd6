package omnisim

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// decodeChunkSteps is how many decode steps run between two looks at the
// batch size. Sleeping per token would be all timer overhead at small time
// scales.
const decodeChunkSteps = 16

// gpu models the one accelerator all requests share: a serial prefill queue
// with the prefix cache in front of it, and a decode batch.
type gpu struct {
	cfg Config

	mu            sync.Mutex
	prefillFreeAt time.Time    // when the last admitted prefill ends (real time)
	cache         *prefixCache // nil when --prefix-cache is off

	activeSeqs atomic.Int64 // sequences decoding right now, over all requests
}

func newGPU(cfg Config) *gpu {
	g := &gpu{cfg: cfg}
	if cfg.PrefixCache {
		g.cache = newPrefixCache(cfg.CacheEntries, cfg.CacheTTL)
	}
	return g
}

// simulation is what one request cost on the simulated GPU, in simulated
// milliseconds.
type simulation struct {
	promptTokens   int
	cachedTokens   int
	computedTokens int
	queueMs        float64
	prefillMs      float64
	decodeMs       float64
	totalMs        float64
}

// scaled turns simulated milliseconds into a real sleep.
func (g *gpu) scaled(ms float64) time.Duration {
	return time.Duration(ms * g.cfg.TimeScale * float64(time.Millisecond))
}

// run plays one request through the model: overhead, queued prefill, then
// batched decode of one sequence per choice. It returns early with the
// context's error when the client goes away.
func (g *gpu) run(ctx context.Context, keys []prefixKey, cumTokens []int, completionTokens []int) (simulation, error) {
	sim := simulation{}
	if len(cumTokens) > 0 {
		sim.promptTokens = cumTokens[len(cumTokens)-1]
	}
	if err := sleepCtx(ctx, g.scaled(g.cfg.BaseMs)); err != nil {
		return sim, err
	}

	now := time.Now()
	g.mu.Lock()
	if g.cache != nil {
		if hit := g.cache.hits(keys, now); hit > 0 {
			sim.cachedTokens = max(0, min(cumTokens[hit-1], sim.promptTokens-1))
		}
		// Entering the prefixes at admission is right for a serial queue:
		// every later request starts its prefill after this one has ended.
		g.cache.add(keys, now)
	}
	sim.computedTokens = sim.promptTokens - sim.cachedTokens
	sim.prefillMs = float64(sim.computedTokens) * g.cfg.PrefillMsPerToken
	start := now
	if g.prefillFreeAt.After(start) {
		start = g.prefillFreeAt
	}
	end := start.Add(g.scaled(sim.prefillMs))
	g.prefillFreeAt = end
	g.mu.Unlock()
	if g.cfg.TimeScale > 0 {
		sim.queueMs = float64(start.Sub(now)) / float64(time.Millisecond) / g.cfg.TimeScale
	}
	if err := sleepCtx(ctx, time.Until(end)); err != nil {
		return sim, err
	}

	decodeMs, err := g.decode(ctx, completionTokens)
	sim.decodeMs = decodeMs
	sim.totalMs = g.cfg.BaseMs + sim.queueMs + sim.prefillMs + sim.decodeMs
	return sim, err
}

// decode runs the choices as sequences of one batch; the request ends with
// its longest choice. Each step costs decode·(1 + slowdown·(active−1)).
func (g *gpu) decode(ctx context.Context, lengths []int) (float64, error) {
	sorted := slices.Sorted(slices.Values(lengths))
	mine := len(sorted)
	g.activeSeqs.Add(int64(mine))
	defer func() { g.activeSeqs.Add(-int64(mine)) }()

	total, done := 0.0, 0
	for _, length := range sorted {
		for done < length {
			steps := min(length-done, decodeChunkSteps)
			active := max(g.activeSeqs.Load(), 1)
			ms := float64(steps) * g.cfg.DecodeMsPerToken * (1 + g.cfg.BatchSlowdown*float64(active-1))
			total += ms
			done += steps
			if err := sleepCtx(ctx, g.scaled(ms)); err != nil {
				return total, err
			}
		}
		mine--
		g.activeSeqs.Add(-1)
	}
	return total, nil
}

func (g *gpu) resetCache() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cache != nil {
		g.cache.clear()
	}
}

// sleepCtx sleeps for d or until ctx is done, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
