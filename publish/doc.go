// Package publish is garssld's MQTT side (design §5), on
// github.com/eclipse/paho.mqtt.golang v1.5. Under <prefix>/<node> it
// publishes
//
//	status              retained, QoS 1: {"state":"online"|"stopped","node":…,"run_id":…,"version":…,"streams":[…]},
//	                    the will {"state":"offline","node":…,"run_id":…,"version":…}
//	<stream>/detections QoS from the config: detection payload v1 (gar.Detection)
//	<stream>/state      retained, QoS 1: {"state":"connecting"|"running"|"reconnecting"|"paused"|"stopped","error":…|null}
//
// and subscribes (QoS 0) to <stream>/set, whose {"enabled": false|true}
// goes to Options.OnSet, to its own status (duplicate nodes) and, with
// VerifyDelivery, to its own <stream>/detections (the delivery echo).
//
// # Delivery: at least once
//
// Detections are delivered at least once: after a reconnect or a restart
// paho resends what the broker had not acknowledged, and a subscriber can
// then see a message twice. run_id is new at every daemon start and seq
// counts a stream's windows, so (run_id, stream, seq) names a detection
// uniquely: subscribers drop a message whose key they have already seen.
// Retained status and state messages are idempotent and need no key.
//
// # paho rules, and why
//
//   - QoS 1, SetCleanSession(false), a stable client id and a file store
//     (mqtt.NewFileStore under Options.StoreDir): messages not yet
//     acknowledged survive a reconnect and a restart, even a SIGKILL.
//     CleanSession(true) makes paho wipe the store at every connect, so it
//     is never combined with a store.
//   - QoS 0 keeps nothing while the broker is unreachable (paho stores
//     only QoS 1 and 2, and never completes a QoS 0 token published before
//     the first connection), so such detections are dropped and counted
//     instead of handed to paho.
//   - SetConnectRetry(true) and SetAutoReconnect(true): without
//     ConnectRetry, a publish before the first connection (broker down at
//     boot) fails with ErrNotConnected and is lost; with it, paho stores
//     it. paho's own waits between attempts are set to 1 ms, and redial
//     (reconnect.go) waits instead, from the connection notification paho
//     calls synchronously at the start of every attempt: paho's backoff
//     never shrinks after a short reconnect, and fell 30 s behind a broker
//     restarted every 20 s. redial tries at once, then every 0.5–1 s for
//     10 s, then doubles up to mqtt.max_reconnect_interval, and starts
//     again only after a connection that lasted 10 s.
//   - SetOrderMatters(true), so handlers run in the order the broker
//     delivered (with false each runs on its own goroutine, and a command
//     sent after another could be applied before it). They run on paho's
//     router goroutine, which the connection's reader waits for, and
//     which queues the PUBACK after each: so every handler is an O(1)
//     hand-off that never blocks and never calls the client (see
//     onMessage). OnSet runs on a goroutine of Run. OnConnect only
//     signals; Run's goroutine subscribes (paho's ResumeSubs does not
//     cover reconnects) and publishes "online".
//   - Detections at QoS 1 and 2 are accounted by store key, not by token:
//     paho completes a resent message's token when it resends it, before
//     its PUBACK, and a token of a message removed from the store never
//     completes. The store wrapper reports each detection paho stores and
//     each one it deletes (its acknowledgement) to the Publisher's backlog
//     (backlog.go), under the Publisher's lock, so queued + stored is one
//     exact sum. A detection paho refuses before storing it is counted
//     (DropPublishError); one it stored is never handed over again.
//   - One publisher goroutine behind a bounded queue: paho's Publish blocks
//     (up to the write timeout) when its outbound channel is full, so
//     callers never call it. At most MaxPending detections are pending
//     (queued here or stored unacknowledged), across reconnects and
//     restarts. Past it the oldest stored detection is deleted from the
//     store (or, with none stored, the oldest queued is dropped), counted
//     (DropMaxPending) and logged once per burst. When paho lists the
//     store to resend it after a (re)connect, detections older than
//     MaxAge are deleted first (DropExpired), so paho never resends them.
//     paho keeps a deleted message's id claimed (it frees ids only on
//     acknowledgements); once orphanLimit are, Run replaces the client
//     (renew.go). No token is waited for without a deadline: a watcher
//     goroutine selects on each remaining token (QoS 0 detections, status,
//     state, subscribe) together with Run's stop.
//   - paho's FileStore panics on any I/O error, from paho's own goroutines
//     too. The store is wrapped: panics are recovered and logged, a message
//     whose write failed is kept in memory so paho's bookkeeping stays
//     whole (it is still sent, or resent after a reconnect), and while the
//     store cannot write and the broker is unreachable new detections are
//     dropped and counted (DropStoreError) instead of piling up in memory.
//     A write probe notices when the disk has room again.
//   - Availability: the will is status {"state":"offline",…}, retained,
//     QoS 1. "online" with the stream list is published retained after
//     every (re)connect, and again when the streams change; "stopped" is
//     published and awaited (bounded) before Disconnect on a clean
//     shutdown. Stream states are coalesced to the latest per stream,
//     published while connected and all again after each reconnect.
//     Because paho resends stored messages after a reconnect, possibly
//     after the fresh ones, the store wrapper gives a resent status or
//     state message the latest payload of its topic, and deletes those an
//     earlier run left behind.
//   - Connection failures (dial errors, TLS errors, CONNACK refusals) reach
//     the application only through paho's loggers and its connection
//     notifications. ConnectionNotificationFailed is turned into one error
//     line naming the broker (without user information) and what to check
//     (credentials, CA, client certificate, port), folded while the same
//     reason repeats; paho keeps retrying. mqtt.ERROR and mqtt.CRITICAL go
//     to hclog (warn and error), folded too.
//
// # Set commands
//
// The set topics are subscribed at QoS 0, so the broker does not queue
// commands for the persistent session while the daemon is away, and
// retained set messages are ignored (counted as ignored_retained): a stale
// command must not override the config after a restart. Malformed payloads
// and unknown streams are counted and logged, never fatal. Commands go to
// a latest-value slot per stream; OnSet gets the latest at most once per
// stream per second (each may reopen a camera), and one line per stream
// per 10 s logs how many arrived.
//
// # What the broker does not tell
//
// MQTT 3.1.1 has no negative acknowledgement: a broker acknowledges and
// drops what its ACL denies or what exceeds its message size limit. With
// VerifyDelivery each detection handed to paho must come back on the
// node's own subscription within ConfirmWithin (time disconnected does
// not count); see verifier for what a missing echo means. Detections over
// MaxMessageBytes are not sent (DropTooLarge). Only the hop to the broker
// the client is connected to is verified, not a bridge beyond it.
//
// A consumed retained command is not cleared (evcc clears it with an empty
// retained message): the daemon never acts on retained commands, so there
// is nothing to consume, and clearing would need write access to a topic
// the controller owns and could race with, and delete, a newer retained
// command from it.
//
// # Goroutines
//
// Run owns its goroutines (the publisher loop, the token watcher and the
// command goroutine, which paces OnSet) and returns only after they have
// ended and the client has disconnected. redial's wait in paho's reconnect
// loop ends at shutdown, but a handshake in progress cannot be woken, so
// after a Disconnect during an outage paho's loop can linger for up to the
// connect timeout (10 s) before it notices and ends; it publishes nothing.
package publish
