package assign

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMinSmall(t *testing.T) {
	for _, c := range []struct {
		name string
		cost [][]float64
		want []int
	}{
		{"empty", nil, nil},
		{"no columns", [][]float64{{}, {}}, []int{-1, -1}},
		{"greedy would be wrong", [][]float64{{1, 2}, {1, 100}}, []int{1, 0}},
		{"more rows", [][]float64{{5}, {1}, {3}}, []int{-1, 0, -1}},
		{"more columns", [][]float64{{4, 1, 3}, {2, 0, 5}}, []int{1, 0}},
		{"3x3", [][]float64{{4, 1, 3}, {2, 0, 5}, {3, 2, 2}}, []int{1, 0, 2}},
	} {
		got := Min(c.cost)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// TestMinMatchesBruteForce: random rectangular problems against every
// permutation.
func TestMinMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		rows, cols := 1+rng.IntN(5), 1+rng.IntN(5)
		cost := make([][]float64, rows)
		for i := range cost {
			cost[i] = make([]float64, cols)
			for j := range cost[i] {
				cost[i][j] = math.Round(rng.Float64()*100) / 10
			}
		}
		got := Min(cost)
		total, pairs, seen := 0.0, 0, map[int]bool{}
		for i, j := range got {
			if j < 0 {
				continue
			}
			if seen[j] {
				t.Fatalf("%v: column %d used twice: %v", cost, j, got)
			}
			seen[j] = true
			total += cost[i][j]
			pairs++
		}
		if pairs != min(rows, cols) {
			t.Fatalf("%v: %d pairs, want %d", cost, pairs, min(rows, cols))
		}
		if best := brute(cost, 0, make([]bool, cols)); math.Abs(total-best) > 1e-9 {
			t.Fatalf("%v: total %g, best %g (%v)", cost, total, best, got)
		}
	}
}

// brute is the least cost of matching rows i… to unused columns, every
// row matched when rows ≤ cols, else skipping rows as needed.
func brute(cost [][]float64, i int, used []bool) float64 {
	rows, cols := len(cost), len(cost[0])
	if i == rows {
		return 0
	}
	free := 0
	for _, u := range used {
		if !u {
			free++
		}
	}
	best := math.Inf(1)
	if rows-i > free { // this row may be left over
		best = brute(cost, i+1, used)
	}
	for j := 0; j < cols; j++ {
		if !used[j] {
			used[j] = true
			best = math.Min(best, cost[i][j]+brute(cost, i+1, used))
			used[j] = false
		}
	}
	return best
}
