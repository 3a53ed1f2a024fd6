// Package track turns the detections of a stream into tracks of sound
// sources with stable ids, and their lifecycle into events (issue 15): new
// when a track is confirmed, update on a meaningful change, end with a
// reason. It is pure: no I/O and no clock of its own; times come in with
// the windows (Window uses the detection's window end) and with Tick,
// Unknown and EndAll. One Tracker serves one stream and is owned by that
// stream's pipeline; it is not safe for concurrent use.
//
// # API
//
//	t := track.New(stream, cfg, track.NewULIDSource())
//	evs := t.Window(&detection) // per analysed window; sets sources' track_id
//	evs = t.Unknown(at)         // a window dropped or lost to a capture gap
//	evs = t.Tick(now)           // at least once a second: lost_after
//	evs = t.EndAll(track.ReasonStopped, now) // stop, pause, reload
//	tracks := t.Active()        // the retained <stream>/tracks list
//
// # What each window means to a track
//
//   - ok: a hit for every track a source matched, a miss for the others;
//     unmatched sources open tentative tracks.
//   - silent: a miss for every track (evidence the source stopped).
//   - invalid_model_output, mllm_unavailable, a dropped window (Unknown), a
//     capture gap (Unknown): unknown, no miss.
//   - A window ending no later than one already taken (windows can finish
//     out of order, newest first) is stale and taken as unknown, as is one
//     ending no later than an EndAll, so a window in flight when a stream
//     pauses cannot reopen a track.
//
// # States and ends
//
// A track is tentative until ConfirmHits hits, then confirmed (a new event,
// and its id goes on the sources it matches as track_id), then ended.
// Tentative tracks end silently. End reasons:
//
//   - not_seen or silence: after an analysed window, a track ends when
//     (end of that window) − (end of its last hit) ≥ EndAfter; silence when
//     that window was silent, not_seen when it had sound that no source of
//     the track matched. Only analysed windows can run EndAfter out, so
//     Window applies the rule and Tick does not need to.
//   - unknown: when the stream had no analysed window for longer than
//     LostAfter (Tick, Unknown, or an unknown window, whichever comes
//     first), every open track ends. The unknown span is measured from the
//     end of the last analysed window, so windows that never come at all
//     count as unknown too.
//   - stopped, paused, reload: EndAll. A reload that changes the stream's
//     geometry (or its tracking settings) ends the tracks with reason
//     reload and starts a new Tracker. Events no window caused carry a nil
//     key.
//
// At most MaxTracks tracks are open per stream: a source that would open
// one more takes the slot of the oldest tentative track not hit in the same
// window; when every track is confirmed, the source gets no track.
//
// # Association
//
// Per ok window the sources are matched to the open tracks against each
// track's motion-filter prediction at the window's end. A pair is allowed
// when the labels are compatible and either the IoU of bbox_norm with the
// predicted box is ≥ 0.1 (cost 1 − IoU) or, with a camera model (HFOVDeg >
// 0), the bearing differs from the predicted bearing by ≤ 15° (cost 1 +
// difference/15°, so it ranks after any box overlap). Labels are
// compatible when equal after normalisation (lower case, punctuation
// folded), when they share a content word (a plural s dropped; outside a
// stop list: "sound", "noise", "of", "a", "the" …), or when either is empty
// (an unusable audio answer is no evidence against). Compatibility is
// checked against the track's current label, which is the most frequent
// label over its hits (ties keep the current one) with that label's mean
// confidence.
//
// The assignment is globally optimal over the window: the most matched
// pairs, then the least total cost. It is found by brute force, a
// depth-first search over the allowed pairs that prunes branches which
// cannot beat the best. That is fine because both sides are small: a
// window has at most max_sources ≤ 4 sources and a stream at most 16 open
// tracks, so even if every pair were allowed the search has at most 58,625
// leaves. In practice the gates leave a source one or two candidate tracks
// (BenchmarkWindow: 4 sources, 8 tracks, 9 nodes, about 2 µs a window), and
// even with all 64 pairs allowed the pruning keeps it to some hundred
// nodes (BenchmarkWindowWorstCase). A budget on the nodes only guards
// against malformed detections with many sources.
//
// # Motion
//
// Each track has a constant-velocity Kalman filter in the manner of SORT,
// state (cx, cy, w, h, vcx, vcy) in normalised frame coordinates (the frame
// is 1×1) and time in seconds, measured by the box centre and size. Its
// prediction at a window's end is what sources are matched against; its
// state after a hit is the published smoothed box, and the smoothed
// bearing is the pinhole bearing of its centre. The noise covariances are
// diagonal, which keeps the filter's covariance block diagonal, so it is
// run as two (position, velocity) filters and two size filters exactly.
//
// Noise settings, and why they suit windows of about 3 s:
//
//   - Measurement: σ 0.05 of the frame for the centre, 0.08 for a width or
//     height. A model's box for the same still source moves by a few
//     percent of the frame from window to window and its size varies more
//     (refinement expands and shrinks it).
//   - Process, centre: white-noise acceleration with spectral density
//     5·10⁻⁴ /s³. Over a 3 s step that adds σ ≈ 0.067 to the position and
//     σ ≈ 0.04 /s to the velocity: a person or robot crossing the frame in
//     5–10 s (0.1–0.2 /s) can start, stop or turn within a window or two,
//     while jitter of a still source (0.05 per window) is mostly smoothed
//     away rather than taken for motion.
//   - Process, size: a random walk of 5·10⁻⁴ /s (σ ≈ 0.04 per 3 s step).
//   - A new track starts at its first box with the measurement variances
//     and an unknown velocity (σ 0.1 /s), so the second hit already sets
//     most of the velocity, as it must when hits are seconds apart.
//
// # Updates
//
// A hit of a confirmed track sends an update only on a meaningful change,
// measured against the last state sent (which is the event's before): the
// smoothed bearing moved ≥ UpdateBearingDeg (with a camera model), or,
// without one, the smoothed box centre moved ≥ UpdateCentreFrac of the
// frame diagonal; or the label changed; or Heartbeat (when not 0) passed
// since the last state sent. Every other hit updates the track silently.
// An end's before is the last state sent too.
//
// # Ids
//
// New takes the id generator; NewULIDSource gives ULIDs with crypto/rand
// entropy, unique across restarts and robots, increasing within a process
// and never reused.
package track
