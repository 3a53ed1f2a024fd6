// Package report scores saved predictions against annotations and renders
// the result: the report object that `garssld eval` writes to report.json
// and `garssld score` prints, report.md in the paper's layout, and the
// success curve as a PNG.
//
// Score orders predictions by their position in the annotation file before
// summing, so a run that was interrupted and resumed (whose lines are in a
// different order) reports the same numbers bit for bit.
//
// Decisions where metrics.md is silent:
//   - A failed sample scores as an empty prediction in the headline
//     metrics; under protocol gar its ground truth is drawn against the
//     frame size the line records, or 224×224 when the frame was never
//     decoded.
//   - Single-source benchmarks score the first predicted source; duets
//     under gar merge every predicted source into one mask.
//   - Protocol gar reports "ap" for every benchmark and, on duets, the same
//     value as "cap". Protocol standard reports "ap" and "piap" for single
//     sources and "cap" (greedy matching) for duets, where PIAP is not
//     defined.
//   - refine_run and refine_skipped count the sources of successful
//     samples by source index. requests, tokens and latency statistics are
//     over the samples that reached the model (every status but
//     input_error). Percentiles are nearest-rank.
package report
