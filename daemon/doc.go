// Package daemon is `garssld run`: it wires garssld's packages together
// and owns their lifetimes — capture → windowing → schedule → gar →
// publish, with the config, signals, sd_notify, the watchdog and the HTTP
// endpoints around them. It holds no business logic: each decision below
// is about who runs what, when it starts and when it stops.
//
// # One owner
//
// New builds every component from the config and binds the HTTP listener
// (a port in use fails here, before systemd hears READY=1); Run starts
// them and runs the owner loop, which alone holds the config and the
// components. SIGHUP, SIGTERM and SIGINT, set commands from MQTT, and
// components that fail all arrive in its one select. Every goroutine is a
// task with an owner that cancels it and waits for it: the owner loop owns
// the HTTP server, the publisher, the scheduler (with the loop that pings
// it), the systemd watchdog and one supervisor per stream; a supervisor
// owns its capture session. Tasks do not inherit Run's context: the owner
// stops them one by one, in order.
//
// Start-up, READY=1 and the watchdog:
//
//   - READY=1 is sent once the config is loaded, the HTTP listener is up,
//     the publisher and the scheduler run and every stream supervisor has
//     started. It never waits for the broker, a camera or the model, so a
//     broker that is down at boot does not time the unit out; /readyz
//     says what is missing.
//   - WATCHDOG=1 (sdnotify.Watchdog) is sent only while the owner loop,
//     the scheduler, the MQTT publisher's loop and every stream supervisor
//     beat. A task's heartbeat ends when its owner cancels it, not when it
//     returns: a task draining after its cancellation (a scheduler a
//     reload replaced, finishing its windows) is not hung, and the owner
//     that waits for it beats. The owner beats on its ticker and while it
//     waits for something to stop. The scheduler beats when its loop
//     answers Ping, so a scheduler hung on its lock stops the pings. The
//     publisher beats on every turn of its loop (at least once a second),
//     so one stuck in a paho call stops them. A stream supervisor beats while its capture makes
//     progress: no call into windowing stuck for 10 s, and, while capture
//     says "running", a packet or media within stall_timeout + 10 s
//     (capture's own stall watchdog should have reopened the input long
//     before). A stream that connects or reconnects, is paused, or whose
//     file ended counts as alive: a restart would not bring a camera back.
//   - /healthz fails while a loop is hung (the same heartbeats); /readyz
//     is health.Decide over the publisher's connection, the streams'
//     states, the model endpoints' breakers and 4xx runs (ModelWatch) and
//     whether shutdown began.
//
// # Streams
//
// A supervisor per stream runs capture sessions: a capture.Source in
// service mode (live inputs retry whatever they meet, with backoff) feeding
// a windowing.Cutter, file inputs read at the media's rate unless
// realtime = false. Windows go to the scheduler; capture's state changes
// go to the publisher's retained state topic (capture logs each change
// once). A file without loop that ends leaves the stream "stopped" until
// it is paused and resumed or reloaded; so does an input capture cannot
// use at all. Seq numbers go on across sessions (pause/resume, a restart
// by a reload), so (run_id, stream, seq) names one window; counters in
// /metrics stay cumulative too.
//
// # Pause and resume
//
// {"enabled": false} on <stream>/set (retained messages are ignored by the
// publisher) pauses the stream: the scheduler drops its queued windows and
// every later one (counted, reason paused), windows already at the model
// finish and are published, and the capture session is stopped, so a
// paused stream costs no CPU, bandwidth or camera; its state is "paused".
// {"enabled": true} starts a new capture session: connecting, running.
// stream.enabled = false starts a stream paused. A paused stream stays
// paused across a reload, unless the reload changes its enabled. A pause
// ends the stream's tracks at once (reason paused) and empties its
// retained track list.
//
// # Tracks
//
// One tracker per stream (track.Registry, which serialises the calls on
// each): every result is fed to it before it is published, so its sources
// carry track_id; a window the scheduler drops is unknown to it; a task
// ticks the trackers once a second for lost_after. A stream's empty track
// list is published before its capture starts.
//
// # Reload (SIGHUP)
//
// RELOADING=1, then the file is read and checked again. An invalid file,
// or one the components cannot be built from (a TLS pair that does not
// parse), is logged with its diagnostics and changes nothing; so is a
// changed node_id, which names every topic, request id and the MQTT client
// id and needs a restart. Otherwise everything new is built first, then
// swapped in:
//
//   - streams added start; removed ones stop (their metrics are dropped;
//     their retained state stays "stopped"); changed ones (any attribute
//     but enabled, or gar.model_size) stop and start again with seqs going
//     on; a change of enabled alone pauses or resumes; the others are not
//     touched and keep capturing. A removed stream's tracks end (stopped);
//     a stream whose tracking settings or geometry (camera, model_size,
//     input) changed ends them (reload) and starts a new tracker.
//   - mllm, gar or shutdown_timeout changed: a new model client and
//     scheduler take the next windows; the old scheduler drops what it had
//     queued (counted, reason shutdown) and finishes the windows at the
//     model within shutdown_timeout, in the background.
//   - mqtt changed, or the content of its password or TLS files: a new
//     publisher. The old one publishes "stopped" and flushes, then the new
//     one connects with the same client id and file store (whose
//     unacknowledged messages it sends) and publishes "online"; detections
//     meanwhile wait in its queue.
//   - http.listen changed: the new address is bound first (a failure
//     refuses the reload), then the old listener drains.
//   - log.level applies at once; log.format at the next restart (logged).
//
// READY=1 follows, whether the new config was taken or not.
//
// # Shutdown (SIGTERM, SIGINT)
//
// STOPPING=1; /readyz says shutting down; EXTEND_TIMEOUT_USEC every 5 s,
// asking for 15 s more each time, until the stop ends or its budget
// (captureStopLimit + shutdown_timeout + the MQTT flush + slack) is spent,
// so that a shutdown_timeout longer than the unit's TimeoutStopSec= is
// not cut short while a stop that hangs past every bound still is. Then,
// in order: every capture stops (partial windows are not cut; a capture
// stuck in a system call is abandoned after captureStopLimit, the one
// goroutine not waited for); the scheduler drops what is queued
// (reason shutdown) and lets windows at the model finish and be published
// for up to shutdown_timeout, then cancels the rest (counted); every open
// track ends (stopped) and each stream's retained track list is emptied;
// the publisher publishes the stream states and "stopped", hands over what it
// holds and waits for acknowledgements (up to its 5 s flush timeout),
// keeping in its file store what the broker did not acknowledge, for the
// next start; then the HTTP listener and the watchdog stop, and Run
// returns nil.
//
// Run returns an error when a component fails by itself (the HTTP server
// stops serving): the same shutdown runs, and `garssld run` exits 1, which
// systemd restarts. Errors that New returns as ConfigError exit 2, which
// it does not (RestartPreventExitStatus=2).
package daemon
