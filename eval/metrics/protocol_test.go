package metrics

import (
	"math"
	"testing"

	"github.com/garssl/garssld/gar"
)

func TestFrameBoxGAR(t *testing.T) {
	tests := []struct {
		name string
		box  NormBox
		w, h int
		want gar.Box
	}{
		{"xyxy rounded", NormBox{XYXY, [4]float64{0.1, 0.2, 0.5, 0.6}}, 640, 360, gar.Box{64, 72, 320, 216}},
		{"xywh: x2 = round((x+w)·W)", NormBox{XYWH, [4]float64{0.1, 0.2, 0.4, 0.4}}, 640, 360, gar.Box{64, 72, 320, 216}},
		{"ties round half to even, as Python (0.0125·360 = 4.5 → 4)", NormBox{XYXY, [4]float64{0.0125, 0.0125, 0.5, 0.5}}, 360, 360, gar.Box{4, 4, 180, 180}},
		{"0.0375·360 = 13.5 → 14", NormBox{XYXY, [4]float64{0.0375, 0.0375, 0.5, 0.5}}, 360, 360, gar.Box{14, 14, 180, 180}},
		{"inverted corners are ordered", NormBox{XYXY, [4]float64{0.5, 0.6, 0.1, 0.2}}, 640, 360, gar.Box{64, 72, 320, 216}},
		{"a huge negative x2 is bounded, then ordered", NormBox{XYXY, [4]float64{0.396875, 0.6625, -2.8823037615171176e+16, 0.984375}}, 320, 320, gar.Box{0, 212, 127, 315}},
		{"collapsed pair widened by one pixel", NormBox{XYXY, [4]float64{0.26875, 1.0, 0.753125, 1.0}}, 320, 320, gar.Box{86, 319, 241, 319}},
		{"beyond the frame is bounded", NormBox{XYWH, [4]float64{0.9, -0.5, 0.5, 2}}, 100, 100, gar.Box{90, 0, 99, 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.box.FrameBox(tt.w, tt.h); got != tt.want {
				t.Errorf("FrameBox = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScaleTo224AndInclusiveMask(t *testing.T) {
	// 64·224/640 = 22.4 → 22; 72·224/360 = 44.8 → 45; 320·0.35 = 112;
	// 216·224/360 = 134.4 → 134. Inclusive: columns 22…112, rows 45…134.
	b := ScaleTo224(gar.Box{64, 72, 320, 216}.Float(), 640, 360)
	if b != (gar.Box{22, 45, 112, 134}) {
		t.Fatalf("ScaleTo224 = %v", b)
	}
	var m Mask
	m.AddGAR(gar.Box{64, 72, 320, 216}.Float(), 640, 360)
	if got := m.Count(); got != 91*90 {
		t.Errorf("inclusive mask has %d pixels, want 91·90", got)
	}
	if !m.At(112, 134) || m.At(113, 134) || m.At(112, 135) || !m.At(22, 45) || m.At(21, 45) {
		t.Error("mask edges are not x1…x2, y1…y2 inclusive")
	}
	// A frame-filling box stays inside 224 after scaling.
	full := ScaleTo224(gar.Box{0, 0, 639, 359}.Float(), 640, 360)
	if full != (gar.Box{0, 0, 223, 223}) {
		t.Errorf("full-frame box = %v", full)
	}
	// A box collapsing at 224 scale is widened by the clip.
	thin := ScaleTo224(gar.Box{100, 100, 101, 101}.Float(), 1280, 1280)
	if thin != (gar.Box{18, 18, 19, 19}) {
		t.Errorf("collapsed box = %v, want [18 18 19 19]", thin)
	}
}

// Step 2's ties, computed by hand. c·(224/W) is x.5 exactly (as a
// rational) when 224c/W = (2k+1)/2, i.e. c = 5(2k+1)·W/320: the odd
// multiples of 5 for W = 320, of 10 for 640 and of 20 for 1280, with the
// same 32 products for all three (224/640 is 224/320 halved, exactly, in
// float64 too). 224/320 in float64 is 0.69999999999999995559, just under
// 0.7, so 4 of the 32 products fall just under x.5 and are not ties in
// float64 (tie false): Python computes 45*(224/320) = 31.499999999999996
// and rounds it to 31, where (45*224)/320 = 31.5 would give 32. The other
// 28 are ties, and half to even takes the even neighbour: 3.5 → 4,
// 10.5 → 10, …; half away from zero would differ on the 15 whose floor is
// even.
func TestScaleTo224TiesHalfToEven(t *testing.T) {
	tests := []struct {
		c320    int     // the coordinate at W = 320; ×2 at 640, ×4 at 1280
		product float64 // c·(224/W) in float64
		tie     bool    // the product is x.5 exactly in float64
		want    int     // Python's round(product)
	}{
		{5, 3.5, true, 4}, {15, 10.5, true, 10}, {25, 17.5, true, 18}, {35, 24.5, true, 24},
		{45, 31.499999999999996, false, 31}, {55, 38.5, true, 38}, {65, 45.5, true, 46}, {75, 52.5, true, 52},
		{85, 59.499999999999993, false, 59}, {95, 66.5, true, 66}, {105, 73.5, true, 74}, {115, 80.5, true, 80},
		{125, 87.5, true, 88}, {135, 94.5, true, 94}, {145, 101.5, true, 102}, {155, 108.5, true, 108},
		{165, 115.49999999999999, false, 115}, {175, 122.49999999999999, false, 122}, {185, 129.5, true, 130}, {195, 136.5, true, 136},
		{205, 143.5, true, 144}, {215, 150.5, true, 150}, {225, 157.5, true, 158}, {235, 164.5, true, 164},
		{245, 171.5, true, 172}, {255, 178.5, true, 178}, {265, 185.5, true, 186}, {275, 192.5, true, 192},
		{285, 199.5, true, 200}, {295, 206.5, true, 206}, {305, 213.5, true, 214}, {315, 220.5, true, 220},
	}
	for _, w := range []int{320, 640, 1280} {
		for _, tt := range tests {
			c := tt.c320 * w / 320
			p := float64(c) * (224 / float64(w))
			if p != tt.product || (p-math.Floor(p) == 0.5) != tt.tie {
				t.Errorf("W=%d c=%d: c·(224/W) = %.17g, the table says %.17g (tie %v)", w, c, p, tt.product, tt.tie)
			}
			// x1 and y1 are the coordinates under test; x2 and y2 the
			// frame's last pixel, which scales to 223.
			got := ScaleTo224([4]float64{float64(c), float64(c), float64(w - 1), float64(w - 1)}, w, w)
			if want := (gar.Box{tt.want, tt.want, 223, 223}); got != want {
				t.Errorf("W=%d c=%d (%.17g): ScaleTo224 = %v, want %v", w, c, p, got, want)
			}
		}
	}
}

func TestStandardRect(t *testing.T) {
	tests := []struct {
		name               string
		box                NormBox
		x1, y1, x2, y2, px int
	}{
		{"xyxy truncated", NormBox{XYXY, [4]float64{0.1, 0.2, 0.5, 0.6}}, 22, 44, 112, 134, 90 * 90},
		{"xyxy clamped to [0,1]", NormBox{XYXY, [4]float64{-0.3, -1, 1.7, 0.5}}, 0, 0, 224, 112, 224 * 112},
		{"huge negative x2: empty", NormBox{XYXY, [4]float64{0.396875, 0.6625, -2.8823037615171176e+16, 0.984375}}, 88, 148, 0, 220, 0},
		{"y1 = y2: empty", NormBox{XYXY, [4]float64{0.26875, 1.0, 0.753125, 1.0}}, 60, 224, 168, 224, 0},
		{"inverted: empty", NormBox{XYXY, [4]float64{0.5, 0.5, 0.2, 0.9}}, 112, 112, 44, 201, 0},
		{"xywh: x2 = x1 + int(224·w)", NormBox{XYWH, [4]float64{0.1, 0.2, 0.4, 0.4}}, 22, 44, 22 + 89, 44 + 89, 89 * 89},
		{"xywh capped at 224", NormBox{XYWH, [4]float64{0.8, 0.9, 0.5, 0.5}}, 179, 201, 224, 224, 45 * 23},
		{"xywh negative x and w", NormBox{XYWH, [4]float64{-0.2, 0.1, -0.5, 0.2}}, 0, 22, 0, 22 + 44, 0},
		{"xywh x beyond 1", NormBox{XYWH, [4]float64{1.5, 0, 0.5, 1}}, 224, 0, 224, 224, 0},
		{"NaN reads 0", NormBox{XYXY, [4]float64{math.NaN(), 0, 0.5, 0.5}}, 0, 0, 112, 112, 112 * 112},
		// bbox_norm edges k/W: 224·(61/224) is 60.99999999999999 in float64.
		{"pixel edges k/224 truncate to k", NormBox{XYXY, [4]float64{61.0 / 224, 115.0 / 224, 122.0 / 224, 200.0 / 224}}, 61, 115, 122, 200, 61 * 85},
		{"pixel edges k/448 of a composite", NormBox{XYXY, [4]float64{122.0 / 448, 0, 244.0 / 448, 1}}, 61, 0, 122, 224, 61 * 224},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x1, y1, x2, y2 := StandardRect(tt.box)
			if x1 != tt.x1 || y1 != tt.y1 || x2 != tt.x2 || y2 != tt.y2 {
				t.Errorf("StandardRect = %d,%d,%d,%d; want %d,%d,%d,%d", x1, y1, x2, y2, tt.x1, tt.y1, tt.x2, tt.y2)
			}
			var m Mask
			m.AddStandard(tt.box)
			if m.Count() != tt.px {
				t.Errorf("mask has %d pixels, want %d", m.Count(), tt.px)
			}
		})
	}
}

func TestParseProtocol(t *testing.T) {
	for _, s := range []string{"gar", "standard"} {
		if p, err := ParseProtocol(s); err != nil || string(p) != s {
			t.Errorf("ParseProtocol(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseProtocol("lvs"); err == nil {
		t.Error("ParseProtocol(\"lvs\") should fail")
	}
}

func TestGreedy(t *testing.T) {
	left, right := rect(0, 0, 100, 100), rect(124, 0, 224, 100)
	nearLeft := rect(0, 0, 100, 50)    // cIoU 0.5 with left
	nearRight := rect(124, 0, 224, 80) // cIoU 0.8 with right
	tests := []struct {
		name  string
		preds []*Mask
		gts   []*Mask
		want  []Entry
	}{
		{"each prediction takes its best source", []*Mask{nearRight, nearLeft}, []*Mask{left, right},
			[]Entry{{CIoU: 0.8, AP: MaskAP(nearRight, right)}, {CIoU: 0.5, AP: MaskAP(nearLeft, left)}}},
		{"order decides: the first prediction takes the source first", []*Mask{rect(0, 0, 224, 100), nearRight}, []*Mask{left, right},
			// The wide first box scores 100·100/(224·100) with both; the tie goes to the first source.
			[]Entry{{CIoU: 10000.0 / 22400, AP: MaskAP(rect(0, 0, 224, 100), left)}, {CIoU: 0.8, AP: MaskAP(nearRight, right)}}},
		{"fewer predictions than sources: zeros", []*Mask{nearLeft}, []*Mask{left, right},
			[]Entry{{CIoU: 0.5, AP: MaskAP(nearLeft, left)}, {}}},
		{"no prediction (failed sample)", nil, []*Mask{left, right}, []Entry{{}, {}}},
		{"more predictions than sources: extras ignored", []*Mask{nearLeft, nearRight, left}, []*Mask{left},
			[]Entry{{CIoU: 0.5, AP: MaskAP(nearLeft, left)}}},
		{"empty source and empty prediction: undefined", []*Mask{{}}, []*Mask{{}}, []Entry{{Undefined: true}}},
		{"all zero: the first untaken source is taken", []*Mask{rect(200, 200, 210, 210), nearLeft}, []*Mask{left, right},
			[]Entry{{CIoU: 0, AP: MaskAP(rect(200, 200, 210, 210), left)}, {CIoU: 0, AP: MaskAP(nearLeft, right)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Greedy(tt.preds, tt.gts)
			if len(got) != len(tt.want) {
				t.Fatalf("Greedy gave %d matches, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("match %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
