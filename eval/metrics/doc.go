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
//   - Rounding in protocol gar is Python's round(), half to even
//     (math.RoundToEven), with the scale 224/W computed before it
//     multiplies the integer coordinate, as metrics.md states. Ties are
//     common: the products c·(224/W) that are x.5 exactly are the same 32
//     for W = 320, 640 and 1280 (c an odd multiple of 5, 10 and 20). In
//     float64, 28 of them are ties and 4 fall just below (224/320 is not
//     exactly 0.7: 45·(224/320) = 31.499999999999996), and half away from
//     zero would move 15 of the 28 up by a pixel. Both clip steps are
//     the design §3.5 clip (gar.Clip, which widens a collapsed pair); its
//     own rounding only ever sees integers here.
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
