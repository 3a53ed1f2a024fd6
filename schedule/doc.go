// Package schedule sits between windowing and gar: it decides which windows
// reach the model, when, and with what deadline, and turns each result into
// the detection payload for the publisher (design §1: "bounded queue,
// freshness, fair share of model capacity").
//
// # Freshness
//
//   - Each stream has a queue of at most max_queue windows. A window that
//     arrives at a full queue pushes out the oldest (reason queue_full, or
//     stale if that one had already turned stale).
//   - Newest first: when a slot frees, a stream offers its newest queued
//     window. When it starts, the older ones that could not still finish
//     fresh after it (less than two service estimates left) are dropped
//     (superseded); the others wait their turn, so that a model that keeps
//     up loses no window to a backlog (a reload, a stall). A window older
//     than stale_after is dropped (stale), with every older one.
//   - The service estimate is the 90th percentile (nearest rank) of the GAR
//     times of the last 20 windows that reached the model, over all streams:
//     the model client's endpoints serve every stream together, so there is
//     one estimate. A window dropped stale after it ran counts as
//     max(its time, the estimate): it did not finish in its budget. Windows
//     cancelled by Remove or shutdown do not count.
//   - A window with less time left before stale_after than the estimate is
//     dropped before it costs a request (too_late); its stream keeps its
//     claim on the next slot. Until there is an estimate, every window
//     starts.
//   - Floor: a stream that has not started a window for 30 s starts its
//     newest fresh window even when the estimate calls it too late, so that
//     no stream starves while the model is slower than stale_after, and the
//     estimate learns when the model got faster: such a window that finishes
//     faster than the estimate restarts the estimate from its own time.
//   - A started window runs under the smaller of window_deadline and the time
//     left until it turns stale_after old. When the latter is nearer, the
//     context's deadline carries mllm.ErrFreshness as its cause, so that
//     the model client tells the cut from an endpoint timeout. A result that
//     comes back older than stale_after is dropped (stale), never
//     published; so a window cut short by the stale deadline is counted
//     stale whatever status the Localizer made of it. A window cut short by
//     window_deadline is published with the Localizer's status
//     (mllm_unavailable).
//   - Ages are Clock.Now() − Window.WallEnd. With the real clock both carry
//     Go's monotonic reading, so a wall-clock step (NTP, a robot without an
//     RTC) changes no age. The same age, taken just before the hand-over, is
//     published as latency_ms.age_at_publish and reported to the Observer.
//   - Degraded: when a stream's last 10 windows, or every window over a
//     minute, were dropped for freshness (stale, too_late, superseded,
//     queue_full: all say the model is slower than the stream), the stream
//     is degraded (Degraded, logged once) until one of its windows is
//     published or it is paused. superseded and queue_full count because a
//     stream that only ever loses its windows to newer ones delivers nothing
//     either.
//
// # Fair share of model capacity
//
// Fairness lives here, at admission, and not in the model client's slot
// wait (its waiters are woken together, in no order). At most MaxWindows
// windows are analysed at once over all streams; when a slot frees, the
// streams are asked in the order of their claims, the stream that started a
// window least recently first, and the first with a window that can finish
// fresh gets the slot (a lone stream may use every slot). Since a window is
// started only when it can finish, turns become results: the share of ok
// detections is fair, not only the share of starts.
//
// Lockstep needs one more rule. Two cameras opened together deliver their
// windows a few milliseconds apart; whichever arrives first would take the
// slot every time, and by the time it frees the other's window is too late.
// So when the stream with the first claim has no window to offer, its next
// window is due (its last arrival plus its cadence, at most 0.5 s late), it
// is not silent, and no running window would end before that window's
// start-by time, one slot is held for it until the window is due (plus
// 0.5 s). This is the only time a slot waits while a window could start;
// in lockstep it lasts until the window arrives. Why admission decides:
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
