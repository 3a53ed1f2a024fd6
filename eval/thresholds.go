package eval

import "github.com/garssl/garssld/eval/dataset"

// GateThresholds are the per-benchmark gate thresholds (τ_av, τ_audio) of
// the reference implementation (design §3.4), used unless the config or a
// flag sets them.
func GateThresholds(k dataset.Kind) (tauAV, tauAudio float64) {
	switch k {
	case dataset.MUSICSolo:
		return 0.75, 0.75
	case dataset.MUSICDuet:
		return 0.75, 0.50
	case dataset.VGGSSDuet:
		return 0.75, 0.75
	}
	return 0.50, 0.50 // VGGSound-Single
}
