package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func rect(x1, y1, x2, y2 int) *Mask {
	var m Mask
	m.Fill(x1, y1, x2, y2)
	return &m
}

func TestMaskFill(t *testing.T) {
	tests := []struct {
		name           string
		x1, y1, x2, y2 int
		want           int
	}{
		{"half-open", 10, 20, 30, 25, 20 * 5},
		{"word boundaries", 60, 0, 130, 1, 70},
		{"whole mask", 0, 0, Size, Size, Pixels},
		{"bounded to the mask", -5, -5, 300, 2, Size * 2},
		{"empty when x1 = x2", 10, 10, 10, 50, 0},
		{"inverted fills nothing", 50, 10, 10, 50, 0},
		{"outside", 224, 0, 300, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := rect(tt.x1, tt.y1, tt.x2, tt.y2)
			if got := m.Count(); got != tt.want {
				t.Errorf("Count = %d, want %d", got, tt.want)
			}
			// The bitset agrees with a plain pixel test everywhere.
			for y := range Size {
				for x := range Size {
					in := x >= max(tt.x1, 0) && x < min(tt.x2, Size) && y >= max(tt.y1, 0) && y < min(tt.y2, Size)
					if m.At(x, y) != in {
						t.Fatalf("At(%d,%d) = %v, want %v", x, y, m.At(x, y), in)
					}
				}
			}
		})
	}
	var inc Mask
	inc.FillInclusive(0, 0, 0, 0)
	if inc.Count() != 1 {
		t.Errorf("FillInclusive of a one-pixel box set %d pixels", inc.Count())
	}
}

func TestCIoU(t *testing.T) {
	tests := []struct {
		name        string
		pred, gt    *Mask
		want        float64
		wantDefined bool
	}{
		{"both empty: undefined, counted as 0", &Mask{}, &Mask{}, 0, false},
		{"empty GT, some prediction", rect(0, 0, 10, 10), &Mask{}, 0, true},
		{"empty prediction", &Mask{}, rect(0, 0, 10, 10), 0, true},
		{"identical", rect(5, 5, 50, 60), rect(5, 5, 50, 60), 1, true},
		{"half overlap: 50 / (100 + 50)", rect(0, 0, 10, 10), rect(5, 0, 15, 10), 1.0 / 3, true},
		{"prediction inside GT: 25 / 100", rect(0, 0, 5, 5), rect(0, 0, 10, 10), 0.25, true},
		{"GT inside prediction: 25 / (25 + 75)", rect(0, 0, 10, 10), rect(0, 0, 5, 5), 0.25, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, defined := CIoU(tt.pred, tt.gt)
			if got != tt.want || defined != tt.wantDefined {
				t.Errorf("CIoU = %v, %v; want %v, %v", got, defined, tt.want, tt.wantDefined)
			}
		})
	}
}

func TestBinaryAPClosedForm(t *testing.T) {
	// Values from sklearn 1.2.1 average_precision_score(gt.flatten(), pred.flatten()).
	gt := rect(20, 10, 90, 60)     // 70×50 = 3500
	pred := rect(50, 30, 120, 100) // 70×70 = 4900, overlap 40×30 = 1200
	p, r, pi := 1200.0/4900, 1200.0/3500, 3500.0/Pixels
	tests := []struct {
		name      string
		pred, gt  *Mask
		want      float64
		sklearn   float64
		tolerance float64
	}{
		{"partial overlap: P·R + (1−R)·π", pred, gt, p*r + (1-r)*pi, 0.12980366253644315, 1e-16},
		{"empty prediction gives π", &Mask{}, gt, pi, 0.06975446428571429, 0},
		{"empty GT gives 0", pred, &Mask{}, 0, 0, 0},
		{"prediction covering GT gives P", rect(0, 0, 100, 100), gt, 3500.0 / 10000, math.NaN(), 0},
		{"prediction of every pixel gives π", rect(0, 0, Size, Size), gt, pi, math.NaN(), 0},
		{"disjoint gives π", rect(150, 150, 200, 200), gt, pi, math.NaN(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskAP(tt.pred, tt.gt)
			if got != tt.want {
				t.Errorf("MaskAP = %v, want %v", got, tt.want)
			}
			if !math.IsNaN(tt.sklearn) && math.Abs(got-tt.sklearn) > tt.tolerance {
				t.Errorf("MaskAP = %v, sklearn gives %v", got, tt.sklearn)
			}
			// The general step form over the flattened masks agrees.
			general := AveragePrecision(bools(tt.gt), tt.pred.Flatten())
			if math.Abs(general-got) > 1e-15 {
				t.Errorf("AveragePrecision (step form) = %v, closed form %v", general, got)
			}
		})
	}
}

func bools(m *Mask) []bool {
	out := make([]bool, 0, Pixels)
	for _, v := range m.Flatten() {
		out = append(out, v == 1)
	}
	return out
}

func TestAveragePrecisionStepForm(t *testing.T) {
	// Expected values from sklearn 1.2.1.
	tests := []struct {
		name   string
		gt     []bool
		scores []float64
		want   float64
	}{
		{"distinct scores", []bool{true, false, true, false}, []float64{0.9, 0.8, 0.7, 0.1}, 0.8333333333333333},
		{"a tie is one threshold", []bool{true, false, true}, []float64{0.5, 0.5, 0.2}, 0.5833333333333333},
		{"several ties", []bool{false, true, true, false, true, false, false, true}, []float64{0.3, 0.3, 0.9, 0.1, 0.5, 0.5, 0.2, 0.0}, 0.6916666666666667},
		{"all tied: precision = prevalence", []bool{true, true, false, false}, []float64{1, 1, 1, 1}, 0.5},
		{"no positives", []bool{false, false, false}, []float64{0.2, 0.1, 0.3}, 0},
		{"NaN ranks last", []bool{false, true}, []float64{math.NaN(), 0.1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AveragePrecision(tt.gt, tt.scores); math.Abs(got-tt.want) > 1e-15 {
				t.Errorf("AveragePrecision = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBinaryAPMatchesStepFormRandom checks the closed form against the
// general step form on random rectangles, unions and edge sizes.
func TestBinaryAPMatchesStepFormRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		var pred, gt Mask
		for range rng.IntN(3) + 1 {
			x, y := rng.IntN(Size), rng.IntN(Size)
			pred.Fill(x, y, x+rng.IntN(120), y+rng.IntN(120))
		}
		if i%7 != 0 { // every seventh GT stays empty
			x, y := rng.IntN(Size), rng.IntN(Size)
			gt.Fill(x, y, x+rng.IntN(150), y+rng.IntN(150))
		}
		closed := MaskAP(&pred, &gt)
		step := AveragePrecision(bools(&gt), pred.Flatten())
		if math.Abs(closed-step) > 1e-14 {
			t.Fatalf("case %d: closed form %v, step form %v (pred %d px, gt %d px)", i, closed, step, pred.Count(), gt.Count())
		}
	}
}

func TestThresholdGrid(t *testing.T) {
	th := Thresholds()
	if th[6] != 0.30000000000000004 {
		t.Fatalf("t_6 = %v, want 0.30000000000000004 (float64(6)·0.05)", th[6])
	}
	if th[0] != 0 || th[10] != 0.5 || th[20] != 1 {
		t.Errorf("t_0, t_10, t_20 = %v, %v, %v", th[0], th[10], th[20])
	}
	// A cIoU of exactly 0.3 passes IoU@0.3 but misses grid point 6.
	curve := SuccessCurve([]float64{0.3})
	if curve[5] != 1 || curve[6] != 0 {
		t.Errorf("f(t_5), f(t_6) for cIoU 0.3 = %v, %v; want 1, 0", curve[5], curve[6])
	}
	if FractionAtLeast([]float64{0.3}, 0.3) != 1 {
		t.Error("IoU@0.3 of a cIoU of exactly 0.3 should be 1")
	}
}

func TestSummarize(t *testing.T) {
	// cIoUs 0, 0.3, 0.5, 1. The success curve is 1 at t_0, 3/4 for
	// t_1…t_5, 2/4 for t_6…t_10 (0.3 < t_6), 1/4 for t_11…t_20; trapezoids
	// give 0.05·(0.875 + 4·0.75 + 0.625 + 4·0.5 + 0.375 + 9·0.25) = 0.45625,
	// and sklearn.metrics.auc on the same grid gives 0.45625000000000004.
	s := Summarize([]Entry{{CIoU: 0, AP: 0.1, Undefined: true}, {CIoU: 0.3, AP: 0.2}, {CIoU: 0.5, AP: 0.3}, {CIoU: 1, AP: 0.4}})
	if s.N != 4 || s.Undefined != 1 {
		t.Errorf("N, Undefined = %d, %d", s.N, s.Undefined)
	}
	if s.CIoUMean != 0.45 || s.CIoUAt03 != 0.75 || s.CIoUAt05 != 0.5 {
		t.Errorf("mean, @0.3, @0.5 = %v, %v, %v; want 0.45, 0.75, 0.5", s.CIoUMean, s.CIoUAt03, s.CIoUAt05)
	}
	if s.AUC != 0.45625000000000004 {
		t.Errorf("AUC = %v, want sklearn's 0.45625000000000004", s.AUC)
	}
	if s.APMean != 0.25 {
		t.Errorf("APMean = %v", s.APMean)
	}
	// More values from sklearn.metrics.auc(thr, curve), bit for bit.
	for _, c := range []struct {
		values []float64
		want   float64
	}{
		{[]float64{0.5}, 0.525},
		{[]float64{1}, 1},
		{[]float64{0.31, 0.77, 0.05, 0.6, 0.92, 0.1, 0.33}, 0.44642857142857145},
	} {
		if got := AUC(SuccessCurve(c.values)); got != c.want {
			t.Errorf("AUC(%v) = %v, want %v", c.values, got, c.want)
		}
	}
	empty := Summarize(nil)
	if empty.N != 0 || empty.CIoUMean != 0 || empty.AUC != 0 {
		t.Errorf("Summarize(nil) = %+v", empty)
	}
}

func TestPairwiseSumMatchesNumpy(t *testing.T) {
	// np.mean([0.1]*10 + [0.7]*7 + [1e-3]*13) with numpy 1.24.2.
	var a []float64
	for range 10 {
		a = append(a, 0.1)
	}
	for range 7 {
		a = append(a, 0.7)
	}
	for range 13 {
		a = append(a, 1e-3)
	}
	naive := 0.0
	for _, v := range a {
		naive += v
	}
	if naive/30 == 0.19710000000000008 {
		t.Fatal("test data does not tell pairwise from naive summation")
	}
	if got := Mean(a); got != 0.19710000000000008 {
		t.Errorf("Mean = %v, numpy gives 0.19710000000000008", got)
	}
	// np.add.reduce([0.1·i for i in range(300)]) = 4485.0 exercises the
	// recursive split above 128 elements.
	var b []float64
	for i := range 300 {
		b = append(b, 0.1*float64(i))
	}
	if got := PairwiseSum(b); got != 4485.0 {
		t.Errorf("PairwiseSum = %v, numpy gives 4485.0", got)
	}
}
