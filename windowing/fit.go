package windowing

// Fit returns exactly n samples from s around its middle: the middle n when
// s is longer (the moment of a still picture is taken to be the middle of
// its sound), else s centred in silence, as a window that lost audio on
// both sides is filled. It never returns s itself.
func Fit(s []int16, n int) []int16 {
	if n <= 0 {
		return nil
	}
	out := make([]int16, n)
	if len(s) >= n {
		copy(out, s[(len(s)-n)/2:])
		return out
	}
	copy(out[(n-len(s))/2:], s)
	return out
}
