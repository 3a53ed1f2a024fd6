// Package metrics computes the sound-source-localization benchmark metrics
// of metrics.md exactly: cIoU on 224×224 masks, IoU@θ as the fraction of
// samples at or above θ, the AUC over the float64 grid t_i = float64(i)·0.05,
// pixel AP (sklearn's step-wise average precision, in closed form for binary
// masks and in the general form for real-valued scores), PIAP, and
// NoPrior's greedy matching for multi-source CAP and CIoU@0.3. Two
// protocols turn boxes into masks: ProtocolGAR (what the GAR authors' script
// computed) and ProtocolStandard (the LVS / EZ-VSL / NoPrior lineage).
//
// The package is pure: no I/O, no model, no files.
//
// # Decisions where metrics.md is silent
//
//   - Rounding in protocol gar is gar.Clip's: half away from zero. Python's
//     round() is half to even; the two differ only on exact .5 products,
//     which occur (0.003125·360 = 1.125 per step of the VGG-SS grid) and
//     move a GT edge by one pixel. Both clip steps of the protocol are the
//     design §3.5 clip (gar.Clip), including widening a collapsed pair.
//   - Truncation in protocol standard is int(224·v) after clamping to
//     [0,1], except that a product within 1e-9 below an integer counts as
//     that integer: bbox_norm holds edges k/W, and 224·(61/224) is
//     60.99999999999999 in float64, which plain truncation would turn into
//     the neighbouring column. No coordinate of the real vggss.json comes
//     that close to an integer, so its GT masks are those of the published
//     code (a test checks it).
//   - Sums follow numpy's pairwise summation (np.mean, np.trapz), so means
//     and the AUC agree with the Python tooling to the last bit.
//   - A cIoU whose masks are both empty is undefined: it counts as 0 and is
//     counted in Summary.Undefined.
//   - Scores passed to AveragePrecision that are NaN rank below every
//     number.
package metrics
