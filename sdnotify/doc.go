// Package sdnotify tells systemd how garssld is doing, through the
// sd_notify protocol (go-systemd's daemon package): READY=1 once the
// config, the HTTP listener, the publisher and the stream supervisors are
// up (never waiting for a camera, the broker or the model), RELOADING=1
// and READY=1 around a SIGHUP reload, STOPPING=1 at shutdown, and STATUS=
// lines for `systemctl status`.
//
// Its Watchdog sends WATCHDOG=1 every WATCHDOG_USEC/2, as the kubelet
// does, but only while every registered loop (the owner loop, each stream
// supervisor, the scheduler) has beaten recently. A loop that hangs stops
// the pings and systemd restarts the service; a camera that is down does
// not, since its supervisor keeps beating while it reconnects: a restart
// would not bring the camera back, and /readyz reports it instead.
//
// Outside systemd (NOTIFY_SOCKET unset) every call does nothing.
package sdnotify
