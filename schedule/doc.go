// Package schedule sits between windowing and gar: it decides which windows
// reach the model, when, and with what deadline, and turns each result into
// the detection payload for the publisher (design §1: "bounded queue,
// freshness, fair share of model capacity").
//
// # Freshness
//
//   - Each stream has a queue of at most max_queue windows. A window that
//     arrives at a full queue pushes out the oldest (reason queue_full, or
//     stale if that one had already turned stale), so when the model is
//     slower than real time it is the newest windows that are analysed.
//   - When a window's turn comes, one older than its stream's stale_after is
//     dropped (stale) and the stream's next window is tried; the stream keeps
//     its turn.
//   - A started window runs under the smaller of window_deadline and the time
//     left until it turns stale_after old. A result that comes back older
//     than stale_after is dropped (stale), never published; so a window cut
//     short by the stale deadline is counted stale whatever status the
//     Localizer made of it. A window cut short by window_deadline is
//     published with the Localizer's status (mllm_unavailable).
//   - Ages are Clock.Now() − Window.WallEnd. With the real clock both carry
//     Go's monotonic reading, so a wall-clock step (NTP, a robot without an
//     RTC) changes no age. The same age, taken just before the hand-over, is
//     published as latency_ms.age_at_publish and reported to the Observer.
//
// # Fair share of model capacity
//
// Fairness lives here, at admission, and not in the model client's slot
// wait (gar/mllm is unchanged: its waiters are woken together, in no
// order). At most MaxWindows windows are analysed at once over all
// streams; when a slot frees, the streams are asked in turn, starting after
// the stream whose window started last, and the first with a fresh queued
// window gets the slot (round-robin, work-conserving: a lone stream may use
// every slot). Why there:
//
//   - The unit the operator counts is a window: a per-stream queue in the
//     client would share requests, and a stream whose windows need more
//     requests (refinement, K sources) would get fewer windows.
//   - Finish what you started. A window's requests come in stages
//     (locate ∥ audio, analysis, refine); a per-stream request queue in the
//     client would let a new window's locate jump ahead of another stream's
//     refine, so every started window would take longer and turn stale more
//     often. Admitting whole windows means the client's waiters are only
//     windows that have started, at most MaxWindows of them, and a new window
//     waits in its queue, where drop-oldest and staleness apply, not in the
//     client, where it would hold a deadline running and a goroutine.
//   - A flood or a reconnect storm on one stream fills only that stream's
//     queue (bounded, drop-oldest) and gets at most every other slot while
//     another stream has windows waiting.
//
// MaxWindows should be mllm.max_in_flight × the number of endpoints: each
// running window can then have a request in flight, and started windows
// compete for request slots only among themselves, in numbers the model
// client serves at once. Windows do not reserve a slot per request they
// may issue (locate ∥ audio is two): that would leave the model idle through
// the single-request stages.
//
// # Silent windows
//
// A window whose RMS level is below silence_dbfs never reaches the model or
// the queue: Submit publishes it at once with status silent, no sources (the
// schema's rule for silent) and a zero gar section (no model was asked).
//
// # Streams, pause and lifetimes
//
//   - Add and Remove work while Run runs (SIGHUP reload). Remove drops the
//     queue (removed), cancels the stream's running windows without
//     publishing them, and returns when they have ended.
//   - Pause drops the queue and every window submitted while paused
//     (paused), so every window stays accounted for whether or not the daemon
//     also stops the capture upstream. A window already running finishes and
//     is published: it was captured while the stream was enabled. Resume
//     takes windows again.
//   - Run owns every goroutine the scheduler starts (one per running window)
//     and waits for all of them. When its context ends, queued windows are
//     dropped (shutdown), running ones get Config.ShutdownTimeout to finish
//     and be published, and are then cancelled and counted (shutdown).
//   - Every window handed to Submit ends in exactly one Observer.WindowDone
//     (published) or one Observer.Dropped.
package schedule
