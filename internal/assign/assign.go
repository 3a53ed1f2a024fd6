// Package assign solves the assignment problem: match rows to columns one
// to one at the least total cost (the Hungarian method, O(n³)).
package assign

import "math"

// Min matches each row of cost (rows × cols, every row as long) to at most
// one column so that min(rows, cols) pairs are made at the least total
// cost. It returns, for each row, its column or −1 when the row is left
// over. Costs must be finite.
func Min(cost [][]float64) []int {
	rows := len(cost)
	if rows == 0 {
		return nil
	}
	cols := len(cost[0])
	out := make([]int, rows)
	if cols == 0 {
		for i := range out {
			out[i] = -1
		}
		return out
	}
	// Square the problem with zero-cost padding; padded matches are
	// dropped at the end.
	n := max(rows, cols)
	at := func(i, j int) float64 {
		if i < rows && j < cols {
			return cost[i][j]
		}
		return 0
	}
	// Potentials u (rows) and v (columns), 1-based with column 0 as the
	// free start (the e-maxx formulation).
	u := make([]float64, n+1)
	v := make([]float64, n+1)
	p := make([]int, n+1) // p[j]: row matched to column j
	way := make([]int, n+1)
	minv := make([]float64, n+1)
	used := make([]bool, n+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = math.Inf(1)
			used[j] = false
		}
		for {
			used[j0] = true
			i0, delta, j1 := p[j0], math.Inf(1), 0
			for j := 1; j <= n; j++ {
				if used[j] {
					continue
				}
				if c := at(i0-1, j-1) - u[i0] - v[j]; c < minv[j] {
					minv[j], way[j] = c, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	for i := range out {
		out[i] = -1
	}
	for j := 1; j <= n; j++ {
		if i := p[j] - 1; i < rows && j-1 < cols {
			out[i] = j - 1
		}
	}
	return out
}
