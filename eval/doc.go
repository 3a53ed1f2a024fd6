// Package eval runs a benchmark through the daemon's own GAR loop and
// writes what `garssld eval` promises: OUT/samples.jsonl (resumable),
// report.json, report.md, success_curve.png and, on request, one picture
// per sample under OUT/vis.
//
// Samples flow through three stages that own their goroutines: loaders
// decode inputs ahead of need (at most Concurrency prepared samples wait),
// Concurrency workers run gar.Localizer, and one writer appends finished
// samples to samples.jsonl in completion order. Loading therefore
// overlaps the model's work, and the model server always has Concurrency
// samples to serve.
//
// # Inputs
//
// Frames layout: frames/<id>.jpg (or .png) and audio/<id>.wav (or .flac,
// .mp3, .m4a, .ogg; any rate and channel count), read with
// capture.LoadStill; the 3 s around the middle of the sound are sent,
// padded with silence on both sides when shorter; sound under 0.5 s is a
// bad input. Videos layout: videos/<id>.mp4 through capture.Source and
// windowing.Cutter, the daemon's own path, on a 100 ms grid of 3 s
// windows; the middle window of the clip is used (its centre lies within
// 100 ms of the clip's middle), with the frame nearest its centre.
//
// Single-source benchmarks show the model a gar.model_size square, as the
// paper did. Duets keep their aspect: the short side is model_size and the
// long side the nearest multiple of 28 to the frame's aspect (448×224 for
// a VGGSound-Duet composite), never squeezed.
//
// # Failures and resuming
//
// A sample whose inputs are missing or unreadable, or whose window the
// model server could not serve, is written as failed and counts as a miss.
// A sample cut short by Ctrl-C is not written, so a rerun does it again;
// everything that finished is on disk. When the server stays unavailable
// for OutageRun samples in a row (Concurrency·2 at least), the run stops:
// those samples are not written, since they say nothing about the model,
// and a rerun does them. --retry-failed redoes every failed sample.
//
// Every line records the settings it was made with (samples.Settings: the
// model, the endpoint set, τ_av and τ_audio, the trials, model_size,
// max_sources, the sampling, schedule, n and structured-output options,
// and frames or videos). A rerun whose settings differ in any of them is
// refused as an InputError naming each difference and the lines that
// have it, so that one report never mixes two experiments; Restart
// (--restart) removes the samples and pictures and starts over. Lines
// without settings, written before garssld recorded them, cannot be
// checked and are refused the same way: score still reads them.
package eval
