package gar

import "math"

// Op types the refinement stage may propose (design §3.5).
const (
	OpDelta    = "delta"
	OpExpand   = "expand"
	OpShrink   = "shrink"
	OpRecenter = "recenter"
)

// Op is a geometric edit proposed by the refinement stage. Type is stored
// lowercased and trimmed; members the model left out are zero.
type Op struct {
	Type string
	// Delta: dx,dy shift the whole box; dl,dt,dr,db move the left, top,
	// right and bottom sides.
	DX, DY, DL, DT, DR, DB float64
	// Expand/shrink: every side moves outwards (expand) or inwards (shrink)
	// by |Amount|.
	Amount float64
	// Recenter: new centre [cx, cy] in model pixels; HasTarget is false when
	// the model gave no usable target.
	Target    [2]float64
	HasTarget bool
}

// Known reports whether ApplyOp can apply the op.
func (op Op) Known() bool {
	switch op.Type {
	case OpDelta, OpExpand, OpShrink:
		return true
	case OpRecenter:
		return op.HasTarget
	}
	return false
}

// ApplyOp applies op to initial and returns the clipped, then clamped result
// (MaxDeltaPx(w, h) around initial). It returns false, and initial, for an
// unknown type or a recenter without a usable target.
func ApplyOp(op Op, initial Box, w, h int) (Box, bool) {
	x1, y1, x2, y2 := float64(initial[0]), float64(initial[1]), float64(initial[2]), float64(initial[3])
	var raw [4]float64
	switch op.Type {
	case OpDelta:
		raw = [4]float64{x1 + op.DX + op.DL, y1 + op.DY + op.DT, x2 + op.DX + op.DR, y2 + op.DY + op.DB}
	case OpExpand, OpShrink:
		a := math.Abs(op.Amount)
		if op.Type == OpShrink {
			a = -a
		}
		raw = [4]float64{x1 - a, y1 - a, x2 + a, y2 + a}
	case OpRecenter:
		if !op.HasTarget {
			return initial, false
		}
		// Integer halves as in the design, so an odd-sized box loses a
		// pixel rather than landing on half-pixel coordinates.
		hw := float64(max(1, initial.Width()/2))
		hh := float64(max(1, initial.Height()/2))
		cx, cy := op.Target[0], op.Target[1]
		raw = [4]float64{cx - hw, cy - hh, cx + hw, cy + hh}
	default:
		return initial, false
	}
	return clipClamp(raw, initial, w, h), true
}

// Where a refined box came from.
const (
	BasisInitial = "initial" // the initial box was kept
	BasisOp      = "op"      // the box produced by the model's op
	BasisBBox    = "bbox"    // the model's bbox, clipped and clamped
)

// RefineOutcome is the box decided from a refinement answer.
type RefineOutcome struct {
	Box Box
	// Basis is BasisInitial, BasisOp or BasisBBox.
	Basis string
	// Candidate is the box the answer proposed before the "changed" flag
	// was considered; it equals the initial box when nothing was proposed.
	Candidate Box
	// OpApplied is true when a known op produced a candidate (even if a
	// bbox then replaced it).
	OpApplied bool
}

// Changed reports whether the final box differs from initial.
func (o RefineOutcome) Changed(initial Box) bool { return o.Box != initial }

// DecideRefinedBox applies design §3.5's decision list. A zero RefineAnswer
// (what callers pass when the answer did not parse) yields the initial box.
func DecideRefinedBox(initial Box, ans RefineAnswer, w, h int) RefineOutcome {
	out := RefineOutcome{Box: initial, Basis: BasisInitial, Candidate: initial}
	basis := BasisInitial
	if ans.Op != nil {
		if box, ok := ApplyOp(*ans.Op, initial, w, h); ok {
			out.Candidate, out.OpApplied, basis = box, true, BasisOp
		}
	}
	if ans.HasBBox {
		out.Candidate = Clamp(Clip(ans.BBox.Float(), w, h), initial, MaxDeltaPx(w, h), w, h)
		basis = BasisBBox
	}
	// A missing or unreadable "changed" is not false: the design only
	// keeps the initial box on an explicit false.
	if ans.HasChanged && !ans.Changed {
		return out
	}
	out.Box, out.Basis = out.Candidate, basis
	return out
}
