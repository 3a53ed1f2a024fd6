package daemon

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/schedule"
)

// gate blocks whoever passes it while it is closed.
type gate struct {
	closed atomic.Bool
	mu     sync.Mutex
	open   chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
	g.closed.Store(true)
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Swap(false) {
		close(g.open)
	}
}

func (g *gate) pass() {
	if !g.closed.Load() {
		return
	}
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

// blockingObserver is the metrics as the scheduler's observer, with a gate
// in QueueDepth, which the scheduler calls with its lock held: a closed
// gate is a scheduler hung on its lock.
type blockingObserver struct {
	schedule.Observer
	g *gate
}

func (o blockingObserver) QueueDepth(stream string, n int) {
	o.g.pass()
	o.Observer.QueueDepth(stream, n)
}

func (r *running) liveness(t testing.TB) (int, health.Liveness) {
	t.Helper()
	code, body := r.get(t, health.PathHealthz)
	var l health.Liveness
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("/healthz: %v: %s", err, body)
	}
	return code, l
}

func hungNames(l health.Liveness) string { return strings.Join(l.Hung, "; ") }

// The watchdog pings systemd while every loop makes progress, and stops
// when a capture call hangs, the scheduler's loop does, or the MQTT
// publisher's, or the trackers' ticker: /healthz names
// the hung loop, and the pings resume once it recovers. A stream whose
// capture is merely slow to come back (reconnecting) is not hung; the
// camera outage test shows that.
func TestWatchdogTripsOnAHungLoop(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 0)
	sinkGate, schedGate, pubGate, tracksGate := newGate(), newGate(), newGate(), newGate()
	systemd := &fakeSystemd{watchdog: 4 * time.Second} // hung after 2 s without a beat; pings every 2 s
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), maxQueue: 4},
		streamSpec{name: "stuck", input: clip, extra: []string{"loop = true"}},
		streamSpec{name: "fine", input: clip, extra: []string{"loop = true"}}), systemd, testHooks{
		sinkHook: func(stream string) {
			if stream == "stuck" {
				sinkGate.pass()
			}
		},
		wrapScheduleObserver: func(o schedule.Observer) schedule.Observer { return blockingObserver{o, schedGate} },
		publisherBeat:        pubGate.pass,
		tracksBeat:           tracksGate.pass,
		sinkCallLimit:        time.Second,
		// Only the stuck call, not the stalled media, may trip it here.
		stallSlack: time.Hour,
	})
	t.Cleanup(func() { sinkGate.release(); schedGate.release(); pubGate.release(); tracksGate.release() }) // before the daemon stops
	pings := func() int { return systemd.count("WATCHDOG=1") }
	waittest.For(t, "watchdog pings", 30*time.Second, func() bool { return pings() >= 2 })
	if code, l := r.liveness(t); code != 200 || !l.Alive {
		t.Fatalf("/healthz before any hang: %d %+v", code, l)
	}

	for _, tc := range []struct {
		name string
		g    *gate
		hung string
	}{
		{"a capture call", sinkGate, "stream stuck"},
		{"the scheduler", schedGate, "scheduler"},
		{"the publisher", pubGate, "mqtt publisher"},
		{"the trackers' ticker", tracksGate, "tracks"},
	} {
		tc.g.close()
		waittest.For(t, tc.name+" hung in /healthz", 30*time.Second, func() bool {
			code, l := r.liveness(t)
			return code == 503 && strings.Contains(hungNames(l), tc.hung)
		})
		_, l := r.liveness(t)
		if tc.hung == "stream stuck" && (strings.Contains(hungNames(l), "fine") || strings.Contains(hungNames(l), "owner")) {
			t.Errorf("%s: loops that make progress are reported hung: %v", tc.name, l.Hung)
		}
		// Two ping periods without a ping.
		before := pings()
		withheld := time.Now()
		waittest.For(t, "two ping periods", 30*time.Second, func() bool { return time.Since(withheld) > 4*time.Second })
		if n := pings(); n != before {
			t.Errorf("%s hung: %d watchdog pings sent anyway", tc.name, n-before)
		}
		tc.g.release()
		waittest.For(t, "recovery after "+tc.name, 30*time.Second, func() bool {
			code, _ := r.liveness(t)
			return code == 200 && pings() > before
		})
	}
	if len(r.logs.lines("withholding systemd watchdog pings")) < 4 {
		t.Errorf("withheld pings not logged")
	}
}
