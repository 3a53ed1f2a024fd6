package windowing

import (
	"slices"
	"testing"
)

func TestFit(t *testing.T) {
	tests := []struct {
		s    []int16
		n    int
		want []int16
	}{
		{[]int16{1, 2, 3, 4, 5, 6, 7}, 3, []int16{3, 4, 5}},
		{[]int16{1, 2, 3, 4, 5, 6}, 3, []int16{2, 3, 4}},
		{[]int16{1, 2, 3}, 3, []int16{1, 2, 3}},
		{[]int16{1, 2}, 6, []int16{0, 0, 1, 2, 0, 0}},
		{[]int16{1, 2, 3}, 6, []int16{0, 1, 2, 3, 0, 0}},
		{nil, 2, []int16{0, 0}},
		{[]int16{1}, 0, nil},
	}
	for _, tt := range tests {
		if got := Fit(tt.s, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("Fit(%v, %d) = %v, want %v", tt.s, tt.n, got, tt.want)
		}
	}
}
