// Package samples reads and writes OUT/samples.jsonl, the per-sample
// results of `garssld eval` and the input of `garssld score`: one JSON
// object a line, detection payload v1 plus "sample" (the annotation id),
// "failure" (why a sample gave no box) and "metrics" (the sample's cIoU and
// AP under both protocols). Schema merges gar.DetectionSchema with this
// package's additions, so every v1 rule holds for a line.
//
// A line is written with one write(2) call, so a process killed at any
// moment leaves at most one half-written last line. Read reports such a
// tail separately, and Open truncates it, so the sample is redone. A
// damaged line anywhere else is an error naming the line, since it cannot
// come from an interrupted append.
package samples
