// Package gar holds the pure logic of the Generation–Analysis–Refinement
// loop (design §3): stage prompts and response schemas, robust reading of
// model answers, consensus over analysis trials, the adaptive gate, box
// geometry and refinement ops, and the detection payload v1. It does no I/O;
// the Localizer that drives the model client (gar/mllm) calls into it.
//
// All boxes inside the loop are inclusive integer pixel boxes of the W×H
// image the model sees: [x1,y1,x2,y2] covers the columns x1…x2 and rows
// y1…y2. ToFrame, ToNorm and BearingDeg map them for the payload through
// pixel edges: a box's edges are x1 and x2+1. ToFrame scales the edges to
// the frame and takes one off the far one (223 of 224 → 1279 of 1280);
// bbox_norm is the unrounded edges [x1/W, y1/H, (x2+1)/W, (y2+1)/H]. The
// bearing uses the pinhole model
//
//	bearing_deg = atan((2·cx − 1) · tan(hfov/2))
//
// with cx = (x1 + x2 + 1)/2/W, the centre of the box's pixels as a fraction
// of the model image width; 0 is the optical axis and negative values are
// left of it.
//
// # Statuses
//
// Design §4 keeps mllm_unavailable for windows that could not be localised
// because the model could not be used. Only generation decides it: the
// locate request failing, for any reason (transport, 5xx, 4xx, an open
// breaker, the window's deadline), gives mllm_unavailable, and a locate
// answer without a usable box invalid_model_output; Result.Err and the
// payload's "error" say why. After generation the loop can always decide,
// so the window stays ok: a failed analysis trial counts as unparsed, a
// failed or unusable audio answer leaves the label empty (confidence 0, so
// the gate refines), and a failed refinement keeps the initial box with
// "refined" false. Each of these, and every unusable answer, is listed in
// Result.Failures and the payload's "failures" (stage, source in
// multi-source mode, trial when trials are separate requests, error).
//
// # Direction of arrival (issue 19)
//
// With Input.Direction (a stream's mic_array), Localize first finds the
// window's direction in the camera's frame (package doa, plus the yaw and
// pitch offsets): before the model, so that an mllm_unavailable or
// invalid_model_output window still carries audio.doa. A confident
// direction that disagrees with a generated box by more than the tolerance
// runs the locate stage again with one optional prompt line naming the
// third of the picture the sound comes from; its boxes replace the first,
// and analysis and refinement follow as usual. This departs from the
// paper on purpose: refinement is clamped to MaxDeltaPx of the first box
// and can never reach another object. Finally each source's
// doa_agreement_deg compares its final bearing with the peak matched to it
// one to one (internal/assign). Peaks carry no class, so labels are not
// paired with them.
//
// # Decisions where the design is silent
//
// Geometry:
//   - Clip follows design §3.5 to the letter, so a pair collapsed on the
//     far edge stays x1 = x2 = W−1 (one pixel wide in the inclusive masks of
//     the evaluation). Sizes below 1 are treated as 1 (the box is then
//     [0,0,0,0]). NaN coordinates become 0; huge and infinite ones go to the
//     nearest bound.
//   - Clamp and every op compute in float64 and round once, in Clip.
//   - recenter without a usable [cx, cy] target is treated like an unknown
//     op type. The target is read as model pixels; the normalised-box rule
//     is not applied to it.
//   - Op types are matched case-insensitively after trimming.
//   - ToFrame bounds every coordinate to the frame and never returns
//     x2 < x1 (a box scaled down may round its two edges onto one pixel).
//   - DecideRefinedBox: a missing or unreadable "changed" is not false, so
//     the candidate is used; only an explicit false keeps the initial box.
//     When both a known op and a bbox are given, the bbox wins, as in the
//     design's order.
//
// Reading answers:
//   - Fenced code blocks are searched before the whole text. Every '{' (and,
//     for multi-source answers with K ≥ 2, '[') starts a candidate; the
//     first balanced candidate that decodes and yields a usable answer for
//     the stage wins, so example objects in prose, wrapper objects and
//     "assistant" headers are skipped. At most 64 KiB and 128 candidate
//     scans are examined per answer.
//   - A box that shares no pixel with the image (after the normalised-box
//     rule; [-10,-10,-1,-1] at 224×224) is not a box of this image: it is
//     unusable rather than clipped into a corner. A locate answer whose box
//     is unusable is no answer, so with no valid box left the window is
//     invalid_model_output; a refine answer's unusable bbox is ignored
//     (the answer may still change the box through "ops").
//   - Usable means: locate has a readable bbox; audio has a non-empty
//     audio_class (a missing confidence reads as 0); an analysis trial has
//     at least one of its four members; refine has at least one of bbox,
//     changed, ops, refined_description.
//   - When strict decoding fails, the candidate is retried once after
//     repairing common slips outside strings: trailing commas,
//     True/False/None, a leading '+' on numbers, and bare NaN/Infinity/inf,
//     which become null so the value is rejected but the object survives.
//   - Numbers may be strings holding a plain decimal number ("12",
//     " 0.8 "); hex, NaN and infinities are rejected, as are values that
//     overflow float64. Booleans: true/false, 1/0 and the strings
//     true/false/yes/no/1/0 in any case.
//   - Scores are clipped to [0,1]; values such as 85 are not read as
//     percentages.
//   - A box is [x1,y1,x2,y2] or {"x1":…,"y1":…,"x2":…,"y2":…}; "bbox_2d"
//     (Qwen's grounding key) is read when "bbox" is absent.
//   - audio_class is lowercased (the prompt asks for lowercase) and cut to
//     64 runes; descriptions to 512 runes, refined descriptions to 2048;
//     at most 16 role tags and 16 anchor votes are read per trial. A bare
//     string in anchor_votes is a vote with score 0.
//   - Multi-source answers: {"sources":[…]} or, for K ≥ 2, a top-level
//     array; for K = 1 the single-source shape also works. Fewer than K
//     usable entries is invalid; entries beyond K are ignored.
//   - ErrNoJSON (nothing decoded) wraps ErrInvalidAnswer (nothing usable);
//     callers count both through errors.Is(err, ErrInvalidAnswer).
//
// Consensus:
//   - NormaliseName: lowercase; each run of Unicode whitespace and '-'
//     becomes one '_'; "trim" strips '_' from both ends (whitespace is gone
//     by then); the result is cut to 48 runes (never inside a UTF-8
//     sequence) and not trimmed again. Empty names are dropped.
//   - A trial votes at most once per normalised tag or anchor (its first
//     mention). An anchor's score is the mean over the trials that voted
//     for it; a vote without a usable score counts 0.
//   - A keep flag that is missing or unreadable is not a vote for true.
//
// Gate: Reason lists every failed condition, separated by "; ", with two
// decimals (more when two decimals would print equal numbers).
//
// Prompts: one SystemPrompt for all stages; model-produced text (classes,
// tags, anchors) is inserted as JSON strings so it cannot break the prompt's
// layout. Multi-source entries are ordered from the most prominent sound to
// the least in both locate and audio, which is what pairs them by index.
//
// Schemas: LocateMultiSchema and AudioMultiSchema depend on K and are built
// per call. Box coordinates are constrained to integers ≥ 0.
//
// Payload: MarshalJSON fills an empty "schema", writes nil lists as [], and
// publishes a NaN or −Inf rms_dbfs as MinRMSDBFS (−200). "refined" means
// the refinement stage ran, "changed" that the final box differs from the
// initial one, and "ops" is the known op the refinement answer proposed
// (OpsPayloadFrom), null otherwise. Latencies are integer milliseconds.
// "error" (why status is not ok) and "failures" (every failed request and
// unusable answer) are optional members added within v1; a v1 reader that
// ignores them loses nothing it had. Error texts pass through
// internal/redact. The debug "raw" member is split: locate and audio answers at window
// level, analysis and refine answers per source. The payload schema is
// closed (no unknown members), requires at least one source for status
// "ok" and none for "silent", and leaves the other statuses free.
package gar
