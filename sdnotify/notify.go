package sdnotify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Client is the systemd side of the protocol. Systemd returns the real
// one; tests substitute their own.
type Client interface {
	// Notify sends one notification. sent is false, with a nil error, when
	// the process does not run under systemd.
	Notify(state string) (sent bool, err error)
	// WatchdogInterval is WATCHDOG_USEC when systemd expects watchdog
	// pings from this process, else 0.
	WatchdogInterval() (time.Duration, error)
}

// Systemd returns the Client that talks to systemd through NOTIFY_SOCKET
// and reads WATCHDOG_USEC and WATCHDOG_PID.
func Systemd() Client { return systemdClient{} }

type systemdClient struct{}

func (systemdClient) Notify(state string) (bool, error) { return daemon.SdNotify(false, state) }

func (systemdClient) WatchdogInterval() (time.Duration, error) {
	return daemon.SdWatchdogEnabled(false)
}

// Notifier sends garssld's lifecycle notifications.
type Notifier struct{ c Client }

// NewNotifier returns a Notifier over c; Systemd() when c is nil.
func NewNotifier(c Client) *Notifier {
	if c == nil {
		c = Systemd()
	}
	return &Notifier{c: c}
}

// Ready sends READY=1 with status for `systemctl status`: start-up, or a
// reload, is complete.
func (n *Notifier) Ready(status string) error { return n.send("ready", daemon.SdNotifyReady, status) }

// Reloading sends RELOADING=1 at the start of a reload; send Ready when it
// is done, whether the new config was taken or not.
func (n *Notifier) Reloading(status string) error {
	state := daemon.SdNotifyReloading
	if usec := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); usec != "" {
		state += "\n" + usec // MONOTONIC_USEC=…, which notify-reload units require
	}
	return n.send("reloading", state, status)
}

// Stopping sends STOPPING=1 as shutdown begins.
func (n *Notifier) Stopping(status string) error {
	return n.send("stopping", daemon.SdNotifyStopping, status)
}

// ExtendTimeout sends EXTEND_TIMEOUT_USEC: systemd lets the current
// start, stop or runtime timeout run past the unit's own (TimeoutStopSec=
// while stopping) for as long as another message follows within d.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	return n.send("extend timeout", fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds()), "")
}

// Extending is how a stop asks systemd for more time while it drains:
// every Every it extends the timeout by By, and never past Until, so a
// drain that hangs is still killed there. By is larger than Every, so that
// one late message does not let the timeout lapse.
type Extending struct {
	By, Every time.Duration
	Until     time.Time
}

// Extend sends ExtendTimeout now and every e.Every until ctx ends or
// e.Until is reached. The last extension ends at e.Until. The first send
// error is returned (logged by the caller once); later ones are not sent.
func (n *Notifier) Extend(ctx context.Context, e Extending) error {
	tick := time.NewTicker(e.Every)
	defer tick.Stop()
	for {
		by := min(e.By, time.Until(e.Until))
		if by <= 0 {
			return nil
		}
		if err := n.ExtendTimeout(by); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Status sends a STATUS= line alone, e.g. why start-up failed.
func (n *Notifier) Status(status string) error { return n.send("status", "", status) }

func (n *Notifier) send(what, state, status string) error {
	var lines []string
	if state != "" {
		lines = append(lines, state)
	}
	if status != "" {
		// One line: a newline would start another variable.
		lines = append(lines, "STATUS="+strings.Join(strings.Fields(status), " "))
	}
	if _, err := n.c.Notify(strings.Join(lines, "\n")); err != nil {
		return fmt.Errorf("sd_notify %s: %w", what, err)
	}
	return nil
}
