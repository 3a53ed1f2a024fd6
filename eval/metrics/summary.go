package metrics

// Entry is one scored unit: a sample (single-source, or a duet under
// protocol gar) or a ground-truth source (duets under protocol standard).
type Entry struct {
	CIoU float64
	AP   float64
	// Undefined says both masks were empty (CIoU counted as 0).
	Undefined bool
}

// Summary aggregates entries.
type Summary struct {
	N         int
	Undefined int
	CIoUMean  float64
	CIoUAt03  float64
	CIoUAt05  float64
	AUC       float64
	// APMean is the mean pixel AP: "ap" for single sources, "cap" for
	// duets.
	APMean float64
	// Curve is the success curve f(t_i) on Thresholds; AUC is its area.
	Curve [GridPoints]float64
}

// Summarize computes the metrics over entries. IoU@θ uses θ = 0.3 and 0.5
// as written: 0.3 is the float64 nearest 0.3, below the grid's
// 0.30000000000000004.
func Summarize(entries []Entry) Summary {
	cious := make([]float64, len(entries))
	aps := make([]float64, len(entries))
	s := Summary{N: len(entries)}
	for i, e := range entries {
		cious[i], aps[i] = e.CIoU, e.AP
		if e.Undefined {
			s.Undefined++
		}
	}
	s.CIoUMean = Mean(cious)
	s.CIoUAt03 = FractionAtLeast(cious, 0.3)
	s.CIoUAt05 = FractionAtLeast(cious, 0.5)
	s.Curve = SuccessCurve(cious)
	s.AUC = AUC(s.Curve)
	s.APMean = Mean(aps)
	return s
}

// PixelCounts accumulates the pixels of many samples for PIAP: pixel AP
// over the concatenation of every sample's pixels.
type PixelCounts struct {
	Inter, Pred, GT, N int64
}

// Add counts one sample's masks.
func (c *PixelCounts) Add(pred, gt *Mask) {
	c.Inter += int64(AndCount(pred, gt))
	c.Pred += int64(pred.Count())
	c.GT += int64(gt.Count())
	c.N += Pixels
}

// AP is the pixel AP of the concatenation (binary scores, so the closed
// form holds for the whole).
func (c PixelCounts) AP() float64 { return BinaryAP(c.Inter, c.Pred, c.GT, c.N) }
