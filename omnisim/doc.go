// Package omnisim is a SIMULATOR of Qwen2.5-Omni served by vLLM behind the
// OpenAI chat-completions API. It lets garssld be built, tested and
// benchmarked on machines without a GPU.
//
// It does not understand audio or images. Every answer is a deterministic
// function of (seed, stage, SHA-256 of the media bytes, source index, trial
// index) plus the few plain rules written down here. The only "perception" it
// has is the optional truth sidecar, which is colour matching, not vision.
//
// # Endpoints
//
//	GET  /v1/models             lists the configured model name
//	POST /v1/chat/completions   the simulated model
//	GET  /healthz, GET /health  200 "ok" (503 inside a down window)
//	GET  /stats                 JSON counters (see Stats)
//	GET  /admin/faults          current fault settings as JSON
//	POST /admin/faults          replace the fault settings (see Faults)
//
// # Stage detection
//
// The stage (locate, audio, analysis, refine) is taken from, in order:
//
//  1. the X-Request-Id header <node>/<stream>/<seq>/<stage>[/s<k>][/t<i>][/a<j>];
//     s<k> gives the source index and t<i> the trial index; a<j>, the
//     attempt of a retry, changes nothing;
//  2. response_format.json_schema.name, garssl_<stage> or garssl_<stage>_multi;
//  3. keywords in the last user message, checked in this order so that a
//     prompt quoting an earlier stage's fields still lands right: "refine" →
//     refine; "av_consistency" or "anchor_votes" → analysis; "bbox",
//     "bounding box" or "locate" → locate; "audio_class" or "classify" → audio.
//
// Nothing matching is a 400 invalid_request_error.
//
// # Number of sources K (locate and audio only)
//
// A schema name without _multi means K = 1. A schema name with _multi, or no
// schema at all, reads K from the user text: the first "K=<n>" or
// "exactly <n> … sources|objects" (n as digits or one…eight, at most three
// words in between, K capped at 8). Failing that, _multi means
// max(2, --sources) and no schema means --sources (default 1). Analysis and
// refine always answer one source: the one named by s<k> (default 0).
//
// # Answers
//
// Shapes follow docs/contracts.md. The trial index of choice i is t+i, where t
// comes from /t<t> in the request id (default 0), so n=5 in one request and
// five requests t0…t4 give the same five answers. A request with temperature
// 0 is greedy: the trial index is ignored and every choice is the same. An
// absent temperature means 1.0, as in the OpenAI API. The request's own seed is
// accepted and ignored.
//
//   - locate: a box inside the image (size read from the JPEG header), 20–60 %
//     of each side, placed by the seed; with a truth sidecar, the colour box.
//   - audio: a class from a small fixed list and a confidence in [0.45, 0.98];
//     with a truth sidecar, the sidecar's class and confidence.
//   - analysis: each window (media hash, source) draws a difficulty d in
//     [0.05, 0.85]; with a truth box and a previous_bbox in the prompt,
//     d = 1 − IoU(previous, truth). Each trial reports av_consistency ≈ 1 − d
//     plus noise of amplitude 0.15·min(T/0.4, 2) (T = temperature), keep when
//     its av ≥ 0.6, and role tags and anchor votes from small pools (now and
//     then a tag spelled with a space or hyphen, as a model would).
//   - refine: starting from previous_bbox (the first [a,b,c,d] after
//     "previous_bbox" in the text, else the first four-number list, else the
//     simulated locate box), one of: changed=false; a bbox only; or an ops
//     object of type delta, expand, shrink or recenter with the bbox it
//     produces. Moves stay within MAX_DELTA_PX = max(4, round(0.08·min(W,H))).
//     With a truth box, each side moves toward it by at most MAX_DELTA_PX.
//
// With response_format of type json_schema or json_object the content is pure
// JSON. Without it, a per-answer draw from the same inputs wraps the JSON like
// a chatty model: 40 % bare, 30 % in a ```json fence, 20 % after a sentence of
// prose and in a fence, 10 % after an "assistant" header line. max_tokens
// (or max_completion_tokens) cuts the content at 4 bytes per token and sets
// finish_reason "length".
//
// # Truth sidecar
//
// --truth FILE is JSON, either one target
//
//	{"target_rgb":[255,0,0],"tolerance":60,"audio_class":"beep",
//	 "audio_confidence":0.95,"min_pixels":20}
//
// or several, one per source index:
//
//	{"min_pixels":20,"sources":[{"target_rgb":[255,0,0],"audio_class":"beep"},
//	                            {"target_rgb":[0,0,255],"audio_class":"whistle"}]}
//
// The target's box is the bounding box (inclusive pixel coordinates) of every
// pixel whose channels are each within tolerance (default 60) of target_rgb.
// With fewer than min_pixels (default 20) such pixels, or no target for that
// source, the seeded answer is used. audio_confidence defaults to 0.95.
//
// A target may make locate miss on purpose, so that tests can see
// refinement at work: "locate_error":{"offset":[dx,dy],"scale":s,
// "target_rgb":[r,g,b]}, every member optional. locate then answers the
// colour box of target_rgb (the wrong object) instead of the target's, scaled
// by s about its centre, moved by [dx,dy] model pixels and clipped. Analysis
// and refinement still judge against the target's own box, so the loop sees
// a poor fit and refinement moves toward the truth.
//
// A locate prompt may carry a direction hint: "… sound comes from the left
// third of the picture" (several thirds joined by "and"). With a
// locate_error target_rgb, when the wrong object's centre lies in no hinted
// third and the target's does, locate answers the target's colour box
// (scale and offset still apply); otherwise the hint changes nothing. The
// hint picks between the two objects by place only.
//
// # Tokens
//
// Image: (round(W/28))·(round(H/28)) + 2, rounding half to even as Qwen's
// smart_resize does (224×224 → 66, 640×480 → 393). Audio: ceil(seconds·25) + 2
// with seconds from the WAV header (3 s → 77). Text: ceil(bytes/4) per text
// part and per system message. Completion: ceil(bytes/4) per choice; usage
// sums the choices, as vLLM does.
//
// # Prefix cache
//
// The prompt is a sequence of segments: every message's text parts and media
// parts in order, the system prompt first. The cache keeps a SHA-256 of the
// model name plus every cumulative prefix ending at a segment boundary (LRU,
// --cache-entries, entries expire after --cache-ttl). A request's cached
// tokens are those of its longest run of cached leading prefixes, capped at
// prompt_tokens−1 because vLLM always recomputes the last prompt token. The
// brief asked for boundaries after the system prompt and each media part; the
// text boundary is added too because vLLM reuses byte-identical prompts, which
// matters when analysis trials are sent as separate requests. Prefixes are
// entered when the request's prefill is admitted to the (serialised) prefill
// queue, which is when later requests could use them.
//
// # Latency model
//
// Simulated milliseconds, multiplied by --time-scale before sleeping:
//
//	total   = base + queue + prefill + decode
//	base    = --base-ms (10)
//	prefill = (prompt − cached) · --prefill-ms-per-token (0.5), computed once
//	          for all n choices; prefill is serialised across requests (one
//	          GPU queue), queue is the wait for earlier prefills
//	decode  = Σ over steps of --decode-ms-per-token (6) ·
//	          (1 + --batch-slowdown (0.05) · (active sequences − 1))
//
// The number of steps is the longest choice's completion tokens. Active
// sequences are every choice still decoding in every request, sampled every
// 16 steps and whenever one of the request's own choices finishes. An uncached
// 500-token prompt with a 60-token answer costs 10 + 250 + 360 = 620 ms. The
// simulated total goes out in the X-Omnisim-Simulated-Ms header and the queue
// wait in X-Omnisim-Queue-Ms. Every sleep ends early when the client goes
// away. Fault hangs and down windows run on real time and are not scaled.
//
// # Faults
//
// One draw per valid chat request from a PCG generator seeded by --seed (under a
// mutex, so sequential clients see a repeatable sequence) picks: HTTP 500
// with probability --error-rate; a hang with --timeout-rate, lasting until
// the client goes away or --hang-max passes, then 504; garbage with
// --garbage-rate: HTTP 200 whose every choice is prose without JSON, JSON cut
// in half, or JSON with a NaN or Infinity number. --down "10s-20s,40s-45s:close"
// makes /v1/* and /healthz answer 503 (or, with :close, drop the connection)
// during those windows after the server started. SetFaults and
// POST /admin/faults replace all of these at run time.
package omnisim
