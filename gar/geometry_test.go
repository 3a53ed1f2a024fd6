package gar

import (
	"math"
	"testing"
)

func TestClip(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		raw  [4]float64
		w, h int
		want Box
	}{
		{"inside, rounded half away from zero", [4]float64{10.4, 20.6, 100.5, 200.49}, 224, 224, Box{10, 21, 101, 200}},
		{"inverted pairs are ordered", [4]float64{100, 200, 10, 20}, 224, 224, Box{10, 20, 100, 200}},
		{"zero size widens right and down", [4]float64{50, 60, 50, 60}, 224, 224, Box{50, 60, 51, 61}},
		{"zero size after rounding", [4]float64{50.2, 60, 49.8, 60.4}, 224, 224, Box{50, 60, 51, 61}},
		{"collapsed on far edge stays on the edge (design rule to the letter)", [4]float64{223, 223, 223, 223}, 224, 224, Box{223, 223, 223, 223}},
		{"beyond far edge", [4]float64{300, 400, 500, 600}, 224, 224, Box{223, 223, 223, 223}},
		{"far outside both ways", [4]float64{-1000, -5, 5000, 1e300}, 224, 224, Box{0, 0, 223, 223}},
		{"all negative collapses to origin pixel", [4]float64{-10, -10, -5, -5}, 224, 224, Box{0, 0, 1, 1}},
		{"minus half rounds away to -1, then 0", [4]float64{-0.5, 0.5, 10, 10}, 224, 224, Box{0, 1, 10, 10}},
		{"exact border box", [4]float64{0, 0, 223, 223}, 224, 224, Box{0, 0, 223, 223}},
		{"non-square image", [4]float64{447.4, 230, 0, 0}, 448, 224, Box{0, 0, 447, 223}},
		{"NaN is 0, infinities go to the bounds", [4]float64{math.NaN(), -inf, inf, math.NaN()}, 224, 224, Box{0, 0, 223, 1}},
		{"1x1 image", [4]float64{5, 5, 6, 6}, 1, 1, Box{0, 0, 0, 0}},
		{"2x2 image", [4]float64{1, 1, 1, 1}, 2, 2, Box{1, 1, 1, 1}},
		{"zero size image treated as 1x1", [4]float64{5, 5, 6, 6}, 0, -3, Box{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clip(tt.raw, tt.w, tt.h); got != tt.want {
				t.Errorf("Clip(%v, %d, %d) = %v, want %v", tt.raw, tt.w, tt.h, got, tt.want)
			}
		})
	}
}

func TestMaxDeltaPx(t *testing.T) {
	tests := []struct{ w, h, want int }{
		{224, 224, 18}, // 17.92
		{448, 224, 18},
		{640, 480, 38}, // 38.4
		{56, 56, 4},    // 4.48
		{57, 200, 5},   // 4.56
		{28, 28, 4},    // floor of 4
		{0, 0, 4},
	}
	for _, tt := range tests {
		if got := MaxDeltaPx(tt.w, tt.h); got != tt.want {
			t.Errorf("MaxDeltaPx(%d, %d) = %d, want %d", tt.w, tt.h, got, tt.want)
		}
	}
}

func TestClamp(t *testing.T) {
	initial := Box{50, 50, 100, 100}
	tests := []struct {
		name      string
		candidate Box
		initial   Box
		maxDelta  int
		want      Box
	}{
		{"within the limit is unchanged", Box{45, 60, 110, 90}, initial, 18, Box{45, 60, 110, 90}},
		{"each side limited", Box{0, 0, 200, 200}, initial, 18, Box{32, 32, 118, 118}},
		{"limit is inclusive", Box{32, 68, 82, 118}, initial, 18, Box{32, 68, 82, 118}},
		{"zero limit returns initial", Box{0, 0, 200, 200}, initial, 0, initial},
		{"negative limit acts as zero", Box{0, 0, 200, 200}, initial, -5, initial},
		{"crossed sides are re-ordered by clip", Box{130, 100, 90, 110}, Box{100, 100, 110, 110}, 18, Box{92, 100, 118, 110}},
		{"clamped box still bounded to the image", Box{-30, -30, 260, 260}, Box{5, 5, 220, 220}, 18, Box{0, 0, 223, 223}},
		{"equal sides after clamp are widened", Box{120, 50, 80, 100}, Box{100, 50, 101, 100}, 0, Box{100, 50, 101, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clamp(tt.candidate, tt.initial, tt.maxDelta, 224, 224); got != tt.want {
				t.Errorf("Clamp(%v, %v, %d) = %v, want %v", tt.candidate, tt.initial, tt.maxDelta, got, tt.want)
			}
		})
	}
}

func TestApplyOp(t *testing.T) {
	initial := Box{50, 60, 150, 160} // MaxDeltaPx(224,224) = 18
	tests := []struct {
		name    string
		op      Op
		initial Box
		want    Box
		ok      bool
	}{
		{"delta moves and resizes", Op{Type: OpDelta, DX: 5, DY: -4, DL: -3, DT: 1, DR: 2, DB: 0}, initial, Box{52, 57, 157, 156}, true},
		{"delta members all zero", Op{Type: OpDelta}, initial, initial, true},
		{"delta fractional values round once", Op{Type: OpDelta, DX: 0.3, DL: 0.3}, initial, Box{51, 60, 150, 160}, true},
		{"delta beyond the limit is clamped", Op{Type: OpDelta, DX: 100, DY: -100}, initial, Box{68, 42, 168, 142}, true},
		{"expand", Op{Type: OpExpand, Amount: 10}, initial, Box{40, 50, 160, 170}, true},
		{"expand with a negative amount still expands", Op{Type: OpExpand, Amount: -10}, initial, Box{40, 50, 160, 170}, true},
		{"expand at the border stays inside", Op{Type: OpExpand, Amount: 10}, Box{0, 0, 223, 223}, Box{0, 0, 223, 223}, true},
		{"shrink", Op{Type: OpShrink, Amount: 10}, initial, Box{60, 70, 140, 150}, true},
		{"shrink with a negative amount still shrinks", Op{Type: OpShrink, Amount: -10}, initial, Box{60, 70, 140, 150}, true},
		// raw [110,120,90,100] is ordered by clip to [90,100,110,120], then
		// each side is pulled back to within 18 px of the initial side.
		{"shrink past the middle", Op{Type: OpShrink, Amount: 60}, initial, Box{68, 78, 132, 142}, true},
		{"recenter keeps the size", Op{Type: OpRecenter, Target: [2]float64{110, 120}, HasTarget: true}, initial, Box{60, 70, 160, 170}, true},
		{"recenter odd size uses integer halves", Op{Type: OpRecenter, Target: [2]float64{20, 20}, HasTarget: true}, Box{10, 10, 15, 16}, Box{18, 17, 22, 23}, true},
		{"recenter a one-pixel box keeps half-size 1", Op{Type: OpRecenter, Target: [2]float64{10.5, 10.5}, HasTarget: true}, Box{10, 10, 11, 11}, Box{10, 10, 12, 12}, true},
		{"recenter far away is clamped", Op{Type: OpRecenter, Target: [2]float64{200, 60}, HasTarget: true}, initial, Box{68, 42, 168, 142}, true},
		{"recenter without target", Op{Type: OpRecenter}, initial, initial, false},
		{"unknown type", Op{Type: "rotate", DX: 10}, initial, initial, false},
		{"empty type", Op{DX: 10}, initial, initial, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ApplyOp(tt.op, tt.initial, 224, 224)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ApplyOp(%+v, %v) = %v, %v; want %v, %v", tt.op, tt.initial, got, ok, tt.want, tt.ok)
			}
			if ok != tt.op.Known() {
				t.Errorf("Known() = %v, ApplyOp ok = %v", tt.op.Known(), ok)
			}
		})
	}
}

func TestDecideRefinedBox(t *testing.T) {
	initial := Box{50, 60, 150, 160}
	expand := &Op{Type: OpExpand, Amount: 10}
	expanded := Box{40, 50, 160, 170}
	unknown := &Op{Type: "warp"}
	tests := []struct {
		name      string
		ans       RefineAnswer
		want      Box
		basis     string
		opApplied bool
	}{
		{"unparsed (zero answer) keeps initial", RefineAnswer{}, initial, BasisInitial, false},
		{"op, changed true", RefineAnswer{Op: expand, Changed: true, HasChanged: true}, expanded, BasisOp, true},
		{"op, changed missing uses candidate", RefineAnswer{Op: expand}, expanded, BasisOp, true},
		{"op, changed false keeps initial", RefineAnswer{Op: expand, HasChanged: true}, initial, BasisInitial, true},
		{"bbox is clipped then clamped", RefineAnswer{BBox: Box{0, 0, 223, 223}, HasBBox: true, Changed: true, HasChanged: true}, Box{32, 42, 168, 178}, BasisBBox, false},
		{"bbox wins over op", RefineAnswer{Op: expand, BBox: Box{52, 62, 148, 158}, HasBBox: true, Changed: true, HasChanged: true}, Box{52, 62, 148, 158}, BasisBBox, true},
		{"bbox, changed false keeps initial", RefineAnswer{BBox: Box{52, 62, 148, 158}, HasBBox: true, HasChanged: true}, initial, BasisInitial, false},
		{"unknown op, no bbox keeps initial", RefineAnswer{Op: unknown, Changed: true, HasChanged: true}, initial, BasisInitial, false},
		{"unknown op with bbox uses bbox", RefineAnswer{Op: unknown, BBox: Box{55, 60, 150, 160}, HasBBox: true}, Box{55, 60, 150, 160}, BasisBBox, false},
		{"changed true without proposal keeps initial", RefineAnswer{Changed: true, HasChanged: true}, initial, BasisInitial, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecideRefinedBox(initial, tt.ans, 224, 224)
			if got.Box != tt.want || got.Basis != tt.basis || got.OpApplied != tt.opApplied {
				t.Errorf("DecideRefinedBox = %+v; want box %v basis %q opApplied %v", got, tt.want, tt.basis, tt.opApplied)
			}
			if got.Changed(initial) != (tt.want != initial) {
				t.Errorf("Changed = %v for final %v", got.Changed(initial), got.Box)
			}
		})
	}
}

func TestToFrameAndNorm(t *testing.T) {
	frameTests := []struct {
		name   string
		b      Box
		mw, mh int
		fw, fh int
		want   Box
	}{
		// The far pixel of the model image is the far pixel of the frame:
		// edge 224 → 1280 and 720, minus one.
		{"whole image", Box{0, 0, 223, 223}, 224, 224, 1280, 720, Box{0, 0, 1279, 719}},
		// Edges 112·1280/224 = 640, 169·1280/224 = 965.7 → 966 − 1; 56·720/224
		// = 180, 113·720/224 = 363.2 → 363 − 1.
		{"inner box", Box{112, 56, 168, 112}, 224, 224, 1280, 720, Box{640, 180, 965, 362}},
		{"one pixel grows to the frame pixels it covers", Box{10, 10, 10, 10}, 224, 224, 2240, 2240, Box{100, 100, 109, 109}},
		// Scaling down never inverts a box: 51·100/224 = 22.8 → 23, but
		// (51+1)·100/224 − 1 = 22.2 → 22.
		{"scaled down", Box{51, 51, 51, 51}, 224, 224, 100, 100, Box{23, 23, 23, 23}},
		{"beyond the model image is bounded", Box{0, 0, 500, 500}, 224, 224, 100, 100, Box{0, 0, 99, 99}},
	}
	for _, tt := range frameTests {
		if got := ToFrame(tt.b, tt.mw, tt.mh, tt.fw, tt.fh); got != tt.want {
			t.Errorf("%s: ToFrame(%v) = %v, want %v", tt.name, tt.b, got, tt.want)
		}
	}
	// Pixel edges, unrounded: [56/224, 112/224, 169/224, 224/224].
	if got, want := ToNorm(Box{56, 112, 168, 223}, 224, 224), [4]float64{0.25, 0.5, 169.0 / 224, 1}; got != want {
		t.Errorf("ToNorm = %v, want %v", got, want)
	}
	// Truncating the edges at any size gives back the box's own pixels
	// (metrics.md, protocol standard, item 2).
	for _, b := range []Box{{0, 0, 223, 223}, {17, 3, 17, 200}, {56, 112, 168, 223}, {222, 0, 223, 1}} {
		n := ToNorm(b, 224, 224)
		got := Box{int(n[0] * 224), int(n[1] * 224), int(n[2]*224) - 1, int(n[3]*224) - 1}
		if got != b {
			t.Errorf("ToNorm(%v) = %v truncates back to %v", b, n, got)
		}
	}
	// The centre of the columns 56…167 is the middle of the image, and so is
	// that of the whole width.
	for _, b := range []Box{{56, 0, 167, 10}, {0, 0, 223, 223}} {
		if got := CentreXNorm(b, 224); got != 0.5 {
			t.Errorf("CentreXNorm(%v) = %v, want 0.5", b, got)
		}
	}
}

func TestBearingDeg(t *testing.T) {
	tests := []struct {
		name      string
		cx, hfov  float64
		want, tol float64
	}{
		{"optical axis", 0.5, 87, 0, 1e-12},
		{"left edge of a 90° camera", 0, 90, -45, 1e-9},
		{"right edge of a 90° camera", 1, 90, 45, 1e-9},
		// tan(45°)·0.5 = 0.5; atan(0.5) = 26.565°
		{"halfway left", 0.25, 90, -26.56505, 1e-4},
		{"zero fov is rejected", 0.1, 0, 0, 0},
		{"180° fov is rejected", 0.1, 180, 0, 0},
		{"NaN centre", math.NaN(), 90, 0, 0},
		{"NaN fov", 0.2, math.NaN(), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BearingDeg(tt.cx, tt.hfov); math.Abs(got-tt.want) > tt.tol {
				t.Errorf("BearingDeg(%v, %v) = %v, want %v", tt.cx, tt.hfov, got, tt.want)
			}
		})
	}
}
