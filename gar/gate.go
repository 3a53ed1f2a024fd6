package gar

import (
	"fmt"
	"strings"
)

// GateDecision is the outcome of the adaptive gate (Eq. 10) for one source.
type GateDecision struct {
	SkipRefine bool
	// Reason lists every failed condition, separated by "; ", or says that
	// all passed.
	Reason string
}

// Gate skips refinement iff keep ∧ av ≥ τ_av ∧ audio_confidence ≥ τ_audio.
// Equality passes. A NaN on either side of a comparison fails it.
func Gate(c ConsensusResult, audioConfidence, tauAV, tauAudio float64) GateDecision {
	var failed []string
	if !c.Keep {
		failed = append(failed, "keep=false")
	}
	if !(c.AV >= tauAV) {
		a, b := distinctPair(c.AV, tauAV)
		failed = append(failed, fmt.Sprintf("av %s < tau_av %s", a, b))
	}
	if !(audioConfidence >= tauAudio) {
		a, b := distinctPair(audioConfidence, tauAudio)
		failed = append(failed, fmt.Sprintf("audio_confidence %s < tau_audio %s", a, b))
	}
	if len(failed) == 0 {
		return GateDecision{SkipRefine: true, Reason: "keep, av and audio confidence pass"}
	}
	return GateDecision{Reason: strings.Join(failed, "; ")}
}

// distinctPair formats a and b with two decimals, or with more when two
// decimals would print a failed comparison such as 0.499 < 0.5 as
// "0.50 < 0.50".
func distinctPair(a, b float64) (string, string) {
	for prec := 2; prec < 8; prec++ {
		sa, sb := fmt.Sprintf("%.*f", prec, a), fmt.Sprintf("%.*f", prec, b)
		if sa != sb {
			return sa, sb
		}
	}
	return fmt.Sprint(a), fmt.Sprint(b)
}
