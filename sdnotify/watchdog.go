package sdnotify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// DefaultMaxAge is how long a loop may go without beating before it counts
// as hung when systemd runs no watchdog (for /healthz). Under systemd it is
// half of WATCHDOG_USEC.
const DefaultMaxAge = 30 * time.Second

// Clock is the time source of a Watchdog; tests drive a fake one.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of time.Ticker a Watchdog uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time                   { return time.Now() }
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// WatchdogConfig configures NewWatchdog. Every field is optional.
type WatchdogConfig struct {
	Client Client       // Systemd() when nil
	Logger hclog.Logger // a null logger when nil
	Clock  Clock        // the real clock when nil
}

// Watchdog pings systemd's watchdog only while every registered loop makes
// progress. Create it with NewWatchdog, register loops, and call Run.
type Watchdog struct {
	client   Client
	log      hclog.Logger
	clock    Clock
	epoch    time.Time
	interval time.Duration // WATCHDOG_USEC; 0 without a watchdog
	maxAge   time.Duration

	mu    sync.Mutex
	beats []*Heartbeat
}

// Heartbeat is one registered loop's proof of progress.
type Heartbeat struct {
	w    *Watchdog
	name string
	last atomic.Int64 // clock time of the last beat, as nanoseconds since w.epoch
}

// NewWatchdog reads WATCHDOG_USEC through the client. It fails only when
// systemd's watchdog variables are malformed.
func NewWatchdog(cfg WatchdogConfig) (*Watchdog, error) {
	w := &Watchdog{client: cfg.Client, log: cfg.Logger, clock: cfg.Clock}
	if w.client == nil {
		w.client = Systemd()
	}
	if w.log == nil {
		w.log = hclog.NewNullLogger()
	}
	if w.clock == nil {
		w.clock = realClock{}
	}
	interval, err := w.client.WatchdogInterval()
	if err != nil {
		return nil, fmt.Errorf("systemd watchdog: %w", err)
	}
	w.interval = interval
	w.maxAge = DefaultMaxAge
	if interval > 0 {
		w.maxAge = interval / 2
	}
	w.epoch = w.clock.Now()
	return w, nil
}

// Enabled reports whether systemd expects watchdog pings.
func (w *Watchdog) Enabled() bool { return w.interval > 0 }

// BeatEvery is how often a registered loop should beat at least: a
// quarter of the age past which it counts as hung, so that a loop that is
// merely busy for a moment is not taken for a hung one.
func (w *Watchdog) BeatEvery() time.Duration { return w.maxAge / 4 }

// Register adds a loop, named for logs and /healthz ("owner", "stream
// front"), and counts it as having beaten now. The loop must call Beat at
// least every BeatEvery, including while it waits to reconnect, and its
// owner must Unregister it when it cancels the loop: a loop that drains
// after its cancellation (a replaced scheduler finishing its windows) is
// not hung, and the owner waiting for it beats its own heartbeat.
//
// Names are unique among the registered loops, so that /healthz and the
// log point at one loop: a name in use gets the first free suffix " #2",
// " #3", … (a new scheduler registered while the one it replaces is still
// registered). Name returns the name given.
func (w *Watchdog) Register(name string) *Heartbeat {
	h := &Heartbeat{w: w}
	h.Beat()
	w.mu.Lock()
	defer w.mu.Unlock()
	h.name = name
	for n := 2; slices.ContainsFunc(w.beats, func(b *Heartbeat) bool { return b.name == h.name }); n++ {
		h.name = fmt.Sprintf("%s #%d", name, n)
	}
	w.beats = append(w.beats, h)
	return h
}

// Name is the loop's name as /healthz shows it.
func (h *Heartbeat) Name() string { return h.name }

// Beat records progress. It is cheap and safe to call from any goroutine.
func (h *Heartbeat) Beat() { h.last.Store(int64(h.w.clock.Now().Sub(h.w.epoch))) }

// Unregister removes the loop, for a loop that ended on purpose (a stream
// removed by a reload, shutdown). Calling it twice is harmless.
func (h *Heartbeat) Unregister() {
	w := h.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.beats = slices.DeleteFunc(w.beats, func(b *Heartbeat) bool { return b == h })
}

// Hung describes, sorted by name, the registered loops that have not
// beaten within the maximum age: "stream front (no progress for 41s)".
func (w *Watchdog) Hung() []string {
	var hung []string
	for _, l := range w.silentLoops() {
		hung = append(hung, fmt.Sprintf("%s (no progress for %s)", l.name, l.silent.Round(time.Millisecond)))
	}
	return hung
}

type silentLoop struct {
	name   string
	silent time.Duration
}

func (w *Watchdog) silentLoops() []silentLoop {
	now := int64(w.clock.Now().Sub(w.epoch))
	w.mu.Lock()
	defer w.mu.Unlock()
	var loops []silentLoop
	for _, h := range w.beats {
		if silent := time.Duration(now - h.last.Load()); silent > w.maxAge {
			loops = append(loops, silentLoop{h.name, silent})
		}
	}
	slices.SortFunc(loops, func(a, b silentLoop) int { return strings.Compare(a.name, b.name) })
	return loops
}

// Run pings every WATCHDOG_USEC/2 while no loop is hung, until ctx ends;
// it returns nil then. Without a systemd watchdog it only waits for ctx.
func (w *Watchdog) Run(ctx context.Context) error {
	if w.interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := w.clock.NewTicker(w.interval / 2)
	defer t.Stop()
	var withheld string // the hung loops last logged, so each change is logged once
	failing := false    // a send error was logged and no send succeeded since
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
		if hung := w.silentLoops(); len(hung) > 0 {
			names := make([]string, len(hung))
			for i, l := range hung {
				names[i] = l.name
			}
			if key := strings.Join(names, ", "); key != withheld {
				w.log.Error("withholding systemd watchdog pings: loops stopped making progress; systemd will restart garssld",
					"hung", key, "watchdog", w.interval)
				withheld = key
			}
			continue
		}
		if withheld != "" {
			w.log.Info("all loops make progress again; systemd watchdog pings resumed")
			withheld = ""
		}
		if _, err := w.client.Notify(daemon.SdNotifyWatchdog); err != nil {
			if !failing {
				w.log.Warn("systemd watchdog ping failed", "error", err)
				failing = true
			}
		} else {
			failing = false
		}
	}
}
