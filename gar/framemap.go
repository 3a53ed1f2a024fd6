package gar

import "math"

// ToFrame maps a model-pixel box to pixels of the original frame: x scales by
// frameW/modelW and y by frameH/modelH, each coordinate is rounded and bounded
// to [0,frameW−1]×[0,frameH−1]. Sizes below 1 are treated as 1.
func ToFrame(b Box, modelW, modelH, frameW, frameH int) Box {
	modelW, modelH = atLeastOne(modelW), atLeastOne(modelH)
	frameW, frameH = atLeastOne(frameW), atLeastOne(frameH)
	sx := float64(frameW) / float64(modelW)
	sy := float64(frameH) / float64(modelH)
	return Box{
		boundedRound(float64(b[0])*sx, frameW),
		boundedRound(float64(b[1])*sy, frameH),
		boundedRound(float64(b[2])*sx, frameW),
		boundedRound(float64(b[3])*sy, frameH),
	}
}

// ToNorm expresses a model-pixel box relative to the model image size
// (x / modelW, y / modelH), rounded to 4 decimals and bounded to [0,1].
func ToNorm(b Box, modelW, modelH int) [4]float64 {
	w, h := float64(atLeastOne(modelW)), float64(atLeastOne(modelH))
	return [4]float64{
		normCoord(float64(b[0]) / w),
		normCoord(float64(b[1]) / h),
		normCoord(float64(b[2]) / w),
		normCoord(float64(b[3]) / h),
	}
}

func normCoord(v float64) float64 {
	return math.Min(1, math.Max(0, math.Round(v*1e4)/1e4))
}

// CentreXNorm returns the horizontal centre of b as a fraction of the model
// image width.
func CentreXNorm(b Box, modelW int) float64 {
	return (float64(b[0]) + float64(b[2])) / 2 / float64(atLeastOne(modelW))
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
