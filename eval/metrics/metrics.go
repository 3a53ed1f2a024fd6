package metrics

import (
	"cmp"
	"math"
	"slices"
)

// CIoU returns Σ(pred·gt) / (Σgt + Σ(pred·[gt = 0])), which equals IoU for
// binary masks. defined is false when both masks are empty; the value is 0
// then, as metrics.md counts it.
func CIoU(pred, gt *Mask) (value float64, defined bool) {
	inter := AndCount(pred, gt)
	return ciouFromCounts(inter, pred.Count(), gt.Count())
}

func ciouFromCounts(inter, pred, gt int) (float64, bool) {
	den := gt + pred - inter
	if den == 0 {
		return 0, false
	}
	return float64(inter) / float64(den), true
}

// BinaryAP is pixel AP for a binary prediction, from counts: with
// P = inter/pred, R = inter/gt and π = gt/n it is P·R + (1−R)·π. An empty
// prediction gives π and an empty ground truth 0 (metrics.md). It is the
// value AveragePrecision gives for 0/1 scores.
func BinaryAP(inter, pred, gt, n int64) float64 {
	if gt <= 0 || n <= 0 {
		return 0
	}
	pi := float64(gt) / float64(n)
	if pred <= 0 {
		return pi
	}
	p := float64(inter) / float64(pred)
	r := float64(inter) / float64(gt)
	return p*r + (1-r)*pi
}

// MaskAP is the pixel AP of pred against gt over the Size×Size pixels.
func MaskAP(pred, gt *Mask) float64 {
	return BinaryAP(int64(AndCount(pred, gt)), int64(pred.Count()), int64(gt.Count()), Pixels)
}

// AveragePrecision is sklearn's average_precision_score(gt, scores) for any
// real-valued scores: Σ_k (R_k − R_{k−1})·P_k over the distinct score
// thresholds in decreasing order, where a threshold takes every element
// scoring at least it. With no positive in gt it returns 0 (metrics.md).
// gt and scores must have the same length; extra elements of the longer
// slice are ignored.
func AveragePrecision(gt []bool, scores []float64) float64 {
	n := min(len(gt), len(scores))
	order := make([]int, n)
	positives := 0
	for i := range order {
		order[i] = i
		if gt[i] {
			positives++
		}
	}
	if positives == 0 {
		return 0
	}
	key := func(i int) float64 {
		if math.IsNaN(scores[i]) {
			return math.Inf(-1)
		}
		return scores[i]
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(key(b), key(a)) })
	var ap, prevRecall float64
	tp, fp := 0, 0
	for i, idx := range order {
		if gt[idx] {
			tp++
		} else {
			fp++
		}
		if i+1 < n && key(order[i+1]) == key(idx) {
			continue // the threshold takes every tied element at once
		}
		recall := float64(tp) / float64(positives)
		precision := float64(tp) / float64(tp+fp)
		ap += (recall - prevRecall) * precision
		prevRecall = recall
	}
	return ap
}

// GridPoints is the number of thresholds of the success curve.
const GridPoints = 21

// Thresholds returns t_i = float64(i)·0.05 for i = 0…20, computed at run
// time exactly so: t_6 is 0.30000000000000004, not 0.3, as in every
// published codebase, so a cIoU of exactly 0.3 misses that grid point.
func Thresholds() [GridPoints]float64 {
	var t [GridPoints]float64
	step := 0.05
	for i := range t {
		t[i] = float64(i) * step
	}
	return t
}

// FractionAtLeast returns the fraction of values ≥ theta (0 for none).
func FractionAtLeast(values []float64, theta float64) float64 {
	if len(values) == 0 {
		return 0
	}
	n := 0
	for _, v := range values {
		if v >= theta {
			n++
		}
	}
	return float64(n) / float64(len(values))
}

// SuccessCurve returns f(t_i), the fraction of values ≥ t_i, on Thresholds.
func SuccessCurve(values []float64) [GridPoints]float64 {
	var f [GridPoints]float64
	for i, t := range Thresholds() {
		f[i] = FractionAtLeast(values, t)
	}
	return f
}

// AUC integrates the success curve with the trapezoid rule over
// Thresholds, as sklearn.metrics.auc (np.trapz) does.
func AUC(curve [GridPoints]float64) float64 {
	t := Thresholds()
	parts := make([]float64, GridPoints-1)
	for i := range parts {
		parts[i] = (t[i+1] - t[i]) * (curve[i+1] + curve[i]) / 2.0
	}
	return PairwiseSum(parts)
}

// Mean is np.mean: the pairwise sum divided by the count (0 for none).
func Mean(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	return PairwiseSum(values) / float64(len(values))
}

// pairwiseBlock is numpy's PW_BLOCKSIZE.
const pairwiseBlock = 128

// PairwiseSum adds values in the order numpy's pairwise summation does
// (add.reduce on a contiguous float64 array), so results match the Python
// tooling bit for bit.
func PairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= pairwiseBlock:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		res := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return PairwiseSum(a[:n2]) + PairwiseSum(a[n2:])
	}
}
