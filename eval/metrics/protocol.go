package metrics

import (
	"fmt"
	"math"

	"github.com/garssl/garssld/gar"
)

// Protocol selects how boxes become masks (metrics.md).
type Protocol string

// The two protocols.
const (
	// ProtocolGAR is what the GAR authors' script computed: boxes in frame
	// pixels, rounded, scaled to 224, inclusive masks, only the first VGG-SS
	// box, duet boxes merged into one union mask.
	ProtocolGAR Protocol = "gar"
	// ProtocolStandard is the LVS / EZ-VSL / NoPrior lineage: half-open
	// masks from truncated normalised coordinates, the union of all VGG-SS
	// boxes, greedy matching on duets.
	ProtocolStandard Protocol = "standard"
)

// ParseProtocol accepts "gar" and "standard".
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case ProtocolGAR, ProtocolStandard:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q: use %q or %q", s, ProtocolGAR, ProtocolStandard)
}

// Format says how the four numbers of a normalised annotation box read.
type Format int

// Box formats of the public annotation files.
const (
	// XYXY is [x1, y1, x2, y2] (vggss.json).
	XYXY Format = iota
	// XYWH is [x, y, w, h] (MUSIC and the duet files).
	XYWH
)

// NormBox is an annotation box as written in its file, relative to the
// frame.
type NormBox struct {
	Format Format
	V      [4]float64
}

// FrameBox is step 1 of protocol gar: the box in inclusive pixels of the
// W×H frame, each coordinate rounded as Python rounds (round(v·W), and
// round((x+w)·W) for xywh; ties to even) and then clipped as design §3.5
// says (gar.Clip: bounded, ordered, a collapsed pair widened by one pixel;
// its own rounding sees integers only).
func (b NormBox) FrameBox(w, h int) gar.Box {
	x1, y1, x2, y2 := b.V[0], b.V[1], b.V[2], b.V[3]
	if b.Format == XYWH {
		x2, y2 = x1+x2, y1+y2
	}
	fw, fh := float64(w), float64(h)
	return gar.Clip([4]float64{pyRound(x1 * fw), pyRound(y1 * fh), pyRound(x2 * fw), pyRound(y2 * fh)}, w, h)
}

// ScaleTo224 is step 2 of protocol gar: round(c·(224/W)) for x and
// round(c·(224/H)) for y, then the design §3.5 clip against 224×224. b is a
// box in pixels of the W×H frame (gar.Box.Float of an integer box). The
// scale is computed first and then multiplied, as the authors' scripts do
// (scale_x = 224 / W; int(round(x * scale_x))): 224/320 is not exactly 0.7
// in float64, so 45·(224/320) = 31.499999999999996 rounds to 31 where
// (45·224)/320 = 31.5 would round to 32.
func ScaleTo224(b [4]float64, w, h int) gar.Box {
	w, h = max(w, 1), max(h, 1)
	scaleX, scaleY := Size/float64(w), Size/float64(h)
	sx := func(c float64) float64 { return pyRound(c * scaleX) }
	sy := func(c float64) float64 { return pyRound(c * scaleY) }
	return gar.Clip([4]float64{sx(b[0]), sy(b[1]), sx(b[2]), sy(b[3])}, Size, Size)
}

// pyRound is Python 3's round(): a tie goes to the even neighbour
// (round(2.5) = 2, round(3.5) = 4), which is what the authors' scripts
// computed every protocol-gar coordinate with.
func pyRound(v float64) float64 { return math.RoundToEven(v) }

// AddGAR draws a frame-pixel box into m the protocol-gar way: scaled to
// 224 and filled inclusively of x2 and y2.
func (m *Mask) AddGAR(frameBox [4]float64, w, h int) {
	b := ScaleTo224(frameBox, w, h)
	m.FillInclusive(b[0], b[1], b[2], b[3])
}

// AddStandard draws a normalised box into m the protocol-standard way:
// half-open from truncated coordinates. xyxy: p = int(224·clamp(v, 0, 1))
// and an inverted box fills nothing; xywh: x1 = int(224·max(x, 0)),
// x2 = x1 + int(224·max(w, 0)), both capped at 224.
func (m *Mask) AddStandard(b NormBox) {
	x1, y1, x2, y2 := StandardRect(b)
	m.Fill(x1, y1, x2, y2)
}

// StandardRect is the half-open pixel rectangle AddStandard fills.
func StandardRect(b NormBox) (x1, y1, x2, y2 int) {
	if b.Format == XYWH {
		x1 = truncate224(math.Max(b.V[0], 0))
		y1 = truncate224(math.Max(b.V[1], 0))
		x2 = min(x1+truncate224(math.Max(b.V[2], 0)), Size)
		y2 = min(y1+truncate224(math.Max(b.V[3], 0)), Size)
		return x1, y1, x2, y2
	}
	return truncate224(b.V[0]), truncate224(b.V[1]), truncate224(b.V[2]), truncate224(b.V[3])
}

// snapEpsilon absorbs the float64 error of 224·(k/W); see the package doc.
const snapEpsilon = 1e-9

// truncate224 is int(224·clamp(v, 0, 1)), with a product that lies within
// snapEpsilon below an integer taken as that integer. NaN is 0.
func truncate224(v float64) int {
	if !(v > 0) {
		return 0
	}
	p := Size * math.Min(v, 1)
	if c := math.Ceil(p); c-p < snapEpsilon {
		return int(c)
	}
	return int(p)
}
