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
//     it. SetMaxReconnectInterval comes from mqtt.max_reconnect_interval
//     (default 30 s; paho's default of 10 minutes keeps a robot offline
//     long after the broker is back).
//   - SetOrderMatters(true), so handlers run in the order the broker
//     delivered (with false each runs on its own goroutine, and a command
//     sent after another could be applied before it). They run on paho's
//     router goroutine, which the connection's reader waits for, and
//     which queues the PUBACK after each: so every handler is an O(1)
//     hand-off that never blocks and never calls the client (see
//     onMessage). OnSet runs on a goroutine of Run. OnConnect only
//     signals; Run's goroutine subscribes (paho's ResumeSubs does not
//     cover reconnects) and publishes "online".
//   - No token is waited for without a deadline: a watcher goroutine
//     selects on each token's Done() together with Run's stop, and the
//     only waits in line are at shutdown, bounded by FlushTimeout. A
//     completed token means "handed to paho", not "acknowledged": paho
//     completes a resent message's token before its PUBACK. A token that
//     fails is counted (DropPublishError) and never published again,
//     because paho stored the message before failing it and a retry would
//     duplicate it.
//   - One publisher goroutine behind a bounded queue: paho's Publish blocks
//     (up to the write timeout) when its outbound channel is full, so
//     callers never call it. At most MaxPending detections are outstanding
//     (queued here or held by paho), well below paho's 65535 message ids.
//     Past it the oldest detection still queued here is dropped; when paho
//     holds all of them (during a long outage they are in its file store,
//     and withdrawing one would leak its message id), the new one is.
//     Either way the drop is counted (DropMaxPending) and logged once per
//     burst; Observer.Pending exports the depth.
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
// command goroutine, which paces OnSet) and returns only after they have ended and the client
// has disconnected. paho's reconnect loop sleeps, and waits for a
// handshake, without a way to wake it, so after a Disconnect during an
// outage it can linger for up to max_reconnect_interval plus the connect
// timeout (10 s) before it notices and ends; it publishes nothing.
package publish
