package windowing

// Fit returns exactly n samples centred on the middle of s: the middle n
// when s is longer, else s with equal silence on both sides, so the sound
// stays centred on the picture's moment as in a cut window.
func Fit(s []int16, n int) []int16 {
	if n <= 0 {
		return nil
	}
	if len(s) >= n {
		from := (len(s) - n) / 2
		return s[from : from+n]
	}
	out := make([]int16, n)
	copy(out[(n-len(s))/2:], s)
	return out
}
