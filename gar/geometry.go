package gar

import "math"

// Box is an axis-aligned box [x1, y1, x2, y2] in integer pixels of the image
// the model sees (W×H). A box produced by Clip, Clamp or ApplyOp always lies
// inside [0,W−1]×[0,H−1] with x1 ≤ x2 and y1 ≤ y2; x1 = x2 only when both sit
// on the far edge (W−1), as the design's clip rule leaves it.
type Box [4]int

// Float returns the box as floating-point coordinates.
func (b Box) Float() [4]float64 {
	return [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}
}

// Width returns x2 − x1.
func (b Box) Width() int { return b[2] - b[0] }

// Height returns y2 − y1.
func (b Box) Height() int { return b[3] - b[1] }

// Clip rounds each coordinate, bounds it to [0,W−1]×[0,H−1], orders each
// pair and widens a collapsed pair to one pixel (design §3.5 "clip").
//
// The design sets x2 = min(x1+1, W−1) when x1 = x2; at the far edge that
// leaves x1 = x2 = W−1, a one-pixel-wide box when masks include x2. Clip
// keeps it so, to the letter, because the published numbers were computed
// that way. Sizes below 1 are treated as 1. NaN coordinates become 0 and
// infinities go to the nearest bound, so Clip is total.
func Clip(raw [4]float64, w, h int) Box {
	w, h = atLeastOne(w), atLeastOne(h)
	x1, x2 := clipPair(raw[0], raw[2], w)
	y1, y2 := clipPair(raw[1], raw[3], h)
	return Box{x1, y1, x2, y2}
}

func clipPair(a, b float64, size int) (int, int) {
	lo, hi := boundedRound(a, size), boundedRound(b, size)
	if lo > hi {
		lo, hi = hi, lo
	}
	if lo == hi {
		hi = min(lo+1, size-1)
	}
	return lo, hi
}

// boundedRound rounds v half away from zero and bounds it to [0, size−1].
// Bounding happens in float space so huge values never overflow int.
func boundedRound(v float64, size int) int {
	if math.IsNaN(v) {
		return 0
	}
	r := math.Round(v)
	if r < 0 {
		return 0
	}
	if top := float64(size - 1); r > top {
		return size - 1
	}
	return int(r)
}

func atLeastOne(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// MaxDeltaPx is the refinement step limit max(4, round(0.08·min(W,H)))
// (18 at 224×224).
func MaxDeltaPx(w, h int) int {
	return max(4, int(math.Round(0.08*float64(min(w, h)))))
}

// Clamp moves each side of candidate at most maxDelta pixels away from the
// same side of initial, then clips the result (design §3.5 "clamp"). A
// negative maxDelta is treated as 0.
func Clamp(candidate, initial Box, maxDelta, w, h int) Box {
	d := float64(max(maxDelta, 0))
	var raw [4]float64
	for i := range candidate {
		// Float arithmetic: boxes that did not come from Clip may hold
		// values whose ±maxDelta would overflow int.
		c, init := float64(candidate[i]), float64(initial[i])
		raw[i] = math.Min(math.Max(c, init-d), init+d)
	}
	return Clip(raw, w, h)
}

// clipClamp is the post-processing every refinement proposal goes through:
// clip the raw proposal, then clamp it around the initial box.
func clipClamp(raw [4]float64, initial Box, w, h int) Box {
	return Clamp(Clip(raw, w, h), initial, MaxDeltaPx(w, h), w, h)
}
