package omnisim

import "math"

// box is [x1,y1,x2,y2] in inclusive pixel coordinates of the image the
// model sees, the convention of design §3.5.
type box [4]int

// clipBox rounds, bounds to the image, orders each pair and keeps the box at
// least one pixel wide where the image allows it (design §3.5 "clip").
func clipBox(b [4]float64, w, h int) box {
	var out box
	limits := [4]int{w - 1, h - 1, w - 1, h - 1}
	for i, v := range b {
		out[i] = min(max(int(math.Round(v)), 0), max(limits[i], 0))
	}
	if out[0] > out[2] {
		out[0], out[2] = out[2], out[0]
	}
	if out[1] > out[3] {
		out[1], out[3] = out[3], out[1]
	}
	if out[0] == out[2] {
		out[2] = min(out[0]+1, max(w-1, 0))
	}
	if out[1] == out[3] {
		out[3] = min(out[1]+1, max(h-1, 0))
	}
	return out
}

// clampBox moves each side at most maxDelta from the initial box, then clips.
func clampBox(candidate, initial box, maxDelta, w, h int) box {
	var out [4]float64
	for i := range candidate {
		d := min(max(candidate[i]-initial[i], -maxDelta), maxDelta)
		out[i] = float64(initial[i] + d)
	}
	return clipBox(out, w, h)
}

// maxDeltaPx is the refinement step bound MAX_DELTA_PX of design §3.5.
func maxDeltaPx(w, h int) int {
	return max(4, int(math.Round(0.08*float64(min(w, h)))))
}

func (b box) floats() [4]float64 {
	return [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}
}

func (b box) centre() (float64, float64) {
	return float64(b[0]+b[2]) / 2, float64(b[1]+b[3]) / 2
}

// iou uses inclusive pixel areas.
func iou(a, b box) float64 {
	ix := min(a[2], b[2]) - max(a[0], b[0]) + 1
	iy := min(a[3], b[3]) - max(a[1], b[1]) + 1
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := float64(ix * iy)
	area := func(r box) float64 { return float64((r[2] - r[0] + 1) * (r[3] - r[1] + 1)) }
	return inter / (area(a) + area(b) - inter)
}

// region names the ninth of the image holding the box centre, for
// descriptions.
func region(b box, w, h int) string {
	cx, cy := b.centre()
	col := min(max(int(3*cx/float64(max(w, 1))), 0), 2)
	row := min(max(int(3*cy/float64(max(h, 1))), 0), 2)
	return [3][3]string{
		{"upper left", "top", "upper right"},
		{"left", "centre", "right"},
		{"lower left", "bottom", "lower right"},
	}[row][col]
}
