package track

import "math"

// searchBudget bounds the nodes of one window's search. Within the bounds
// the configuration allows (max_sources ≤ 4, MaxTracksLimit = 16 tracks) the
// whole tree has at most 1 + 4·16 + 6·16·15 + 4·16·15·14 + 16·15·14·13 =
// 58,625 leaves, even if every pair passed the gates, so the budget never
// cuts it; it only keeps a malformed detection with many sources from
// taking exponential time, by returning the best assignment found so far.
const searchBudget = 1 << 18

// search finds the assignment of n observations to m tracks that makes the
// most matches and, among those, has the least total cost, by depth-first
// search over the pairs that passed the gates (cost not NaN).
type search struct {
	cost        []float64
	n, m        int
	used        []bool
	cur, best   []int
	bestMatches int
	bestCost    float64
	nodes       int
}

func (s *search) run(cost []float64, n, m int, out []int) {
	s.cost, s.n, s.m = cost, n, m
	s.used = grow(s.used, m)
	clear(s.used)
	s.cur = growInts(s.cur, n)
	s.best = out
	s.bestMatches, s.bestCost, s.nodes = -1, math.Inf(1), 0
	s.dfs(0, 0, 0)
}

func (s *search) dfs(i, matches int, cost float64) {
	s.nodes++
	if i == s.n {
		if matches > s.bestMatches || (matches == s.bestMatches && cost < s.bestCost) {
			s.bestMatches, s.bestCost = matches, cost
			copy(s.best, s.cur)
		}
		return
	}
	// Even matching every observation left cannot beat the best.
	if most := matches + s.n - i; most < s.bestMatches || (most == s.bestMatches && cost >= s.bestCost) {
		return
	}
	if s.nodes > searchBudget && s.bestMatches >= 0 {
		return
	}
	row := s.cost[i*s.m : (i+1)*s.m]
	for j, c := range row {
		if s.used[j] || math.IsNaN(c) {
			continue
		}
		s.used[j] = true
		s.cur[i] = j
		s.dfs(i+1, matches+1, cost+c)
		s.used[j] = false
	}
	s.cur[i] = -1
	s.dfs(i+1, matches, cost)
}

func grow(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

func growInts(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}
