package metrics

// Greedy is NoPrior's class-agnostic matching: the predictions are taken
// in order; each is scored (cIoU) against every ground-truth source not yet
// taken, the first argmax is recorded with the pixel AP against that
// source's own mask, and the source is removed. Ground-truth sources left
// over when the predictions run out record cIoU 0 and AP 0. Predictions
// beyond the number of sources are ignored. The result has one entry per
// ground-truth source, in the order they were matched.
func Greedy(preds, gts []*Mask) []Entry {
	taken := make([]bool, len(gts))
	out := make([]Entry, 0, len(gts))
	for _, p := range preds {
		if len(out) == len(gts) {
			break
		}
		best, bestCIoU, bestDefined := -1, 0.0, false
		for k, g := range gts {
			if taken[k] {
				continue
			}
			v, defined := CIoU(p, g)
			if best < 0 || v > bestCIoU {
				best, bestCIoU, bestDefined = k, v, defined
			}
		}
		taken[best] = true
		out = append(out, Entry{CIoU: bestCIoU, AP: MaskAP(p, gts[best]), Undefined: !bestDefined})
	}
	for range len(gts) - len(out) {
		out = append(out, Entry{})
	}
	return out
}
