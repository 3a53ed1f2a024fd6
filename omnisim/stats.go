package omnisim

// Counters add up the requests answered with HTTP 200, garbage included.
type Counters struct {
	Requests              int64   `json:"requests"`
	Choices               int64   `json:"choices"`
	PromptTokens          int64   `json:"prompt_tokens"`
	CachedTokens          int64   `json:"cached_tokens"`
	ComputedPrefillTokens int64   `json:"computed_prefill_tokens"`
	CompletionTokens      int64   `json:"completion_tokens"`
	SimulatedMs           float64 `json:"simulated_ms"`
}

func (c *Counters) add(choices int, sim simulation, completionTokens int) {
	c.Requests++
	c.Choices += int64(choices)
	c.PromptTokens += int64(sim.promptTokens)
	c.CachedTokens += int64(sim.cachedTokens)
	c.ComputedPrefillTokens += int64(sim.computedTokens)
	c.CompletionTokens += int64(completionTokens)
	c.SimulatedMs += sim.totalMs
}

// FaultCounts counts injected failures and refusals.
type FaultCounts struct {
	Errors   int64 `json:"errors"`   // HTTP 500 from --error-rate
	Timeouts int64 `json:"timeouts"` // hangs from --timeout-rate
	Garbage  int64 `json:"garbage"`  // unparsable answers from --garbage-rate
	Down     int64 `json:"down"`     // refusals inside --down windows
	// MediaRefused counts requests refused by --refuse-media.
	MediaRefused int64 `json:"media_refused"`
}

// Stats is the body of GET /stats.
type Stats struct {
	Counters
	ByStage     map[Stage]Counters `json:"by_stage"`
	Faults      FaultCounts        `json:"faults"`
	BadRequests int64              `json:"bad_requests"` // 4xx answers
	Cancelled   int64              `json:"cancelled"`    // clients gone before the answer
}

func newStats() Stats {
	st := Stats{ByStage: map[Stage]Counters{}}
	for _, s := range Stages {
		st.ByStage[s] = Counters{}
	}
	return st
}

func (st Stats) clone() Stats {
	out := st
	out.ByStage = make(map[Stage]Counters, len(st.ByStage))
	for k, v := range st.ByStage {
		out.ByStage[k] = v
	}
	return out
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats.clone()
}

// ResetStats zeroes the counters. The prefix cache is left alone; see
// ResetCache.
func (s *Server) ResetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.stats = newStats()
}

// ResetCache forgets every cached prefix, for cold-cache measurements.
func (s *Server) ResetCache() {
	s.gpu.resetCache()
}

func (s *Server) count(update func(*Stats)) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	update(&s.stats)
}
