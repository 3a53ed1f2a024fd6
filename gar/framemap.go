package gar

import "math"

// ToFrame maps an inclusive model-pixel box to an inclusive box of the
// original frame through pixel edges: the box covers the edges x1 and x2+1,
// each edge scales by frameW/modelW, and the far edge comes back as a pixel
// by subtracting one, so 223 of 224 maps to 1279 of 1280. Each coordinate is
// rounded and bounded to [0,frameW−1]×[0,frameH−1], and x2 ≥ x1 always.
// Sizes below 1 are treated as 1.
func ToFrame(b Box, modelW, modelH, frameW, frameH int) Box {
	modelW, modelH = atLeastOne(modelW), atLeastOne(modelH)
	frameW, frameH = atLeastOne(frameW), atLeastOne(frameH)
	x1, x2 := edgesToFrame(b[0], b[2], modelW, frameW)
	y1, y2 := edgesToFrame(b[1], b[3], modelH, frameH)
	return Box{x1, y1, x2, y2}
}

func edgesToFrame(lo, hi, model, frame int) (int, int) {
	s := float64(frame) / float64(model)
	a := boundedRound(float64(lo)*s, frame)
	b := boundedRound(float64(hi+1)*s-1, frame)
	return a, max(a, b)
}

// ToNorm gives the pixel edges of an inclusive model-pixel box relative to
// the model image, unrounded: [x1/W, y1/H, (x2+1)/W, (y2+1)/H]. Truncating
// x·S at any size S gives back the box's own columns, which is how the
// standard evaluation protocol fills masks. Values are bounded to [0,1].
func ToNorm(b Box, modelW, modelH int) [4]float64 {
	w, h := float64(atLeastOne(modelW)), float64(atLeastOne(modelH))
	return [4]float64{
		clip01(float64(b[0]) / w),
		clip01(float64(b[1]) / h),
		clip01(float64(b[2]+1) / w),
		clip01(float64(b[3]+1) / h),
	}
}

// CentreXNorm returns the horizontal centre of b's pixels as a fraction of
// the model image width: pixel x covers [x, x+1), so the centre of the
// columns x1…x2 is (x1 + x2 + 1)/2, and a box over the whole width is 0.5.
func CentreXNorm(b Box, modelW int) float64 {
	return (float64(b[0]) + float64(b[2]) + 1) / 2 / float64(atLeastOne(modelW))
}

// BearingDeg converts a normalised horizontal image position to a bearing in
// degrees with a pinhole camera of horizontal field of view hfovDeg:
//
//	bearing = atan((2·cx − 1) · tan(hfov/2))
//
// 0 is the optical axis, negative is left of it, positive right. It returns
// 0 when hfovDeg is outside (0, 180) or cx is not finite, so a bad camera
// setting can never put NaN into a payload.
func BearingDeg(centreXNorm, hfovDeg float64) float64 {
	if !(hfovDeg > 0 && hfovDeg < 180) || math.IsNaN(centreXNorm) || math.IsInf(centreXNorm, 0) {
		return 0
	}
	halfFOV := hfovDeg / 2 * math.Pi / 180
	return math.Atan((2*centreXNorm-1)*math.Tan(halfFOV)) * 180 / math.Pi
}
