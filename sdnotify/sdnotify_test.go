package sdnotify

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/notifytest"
	"github.com/garssl/garssld/internal/syncbuf"
)

func TestNotifierMessages(t *testing.T) {
	sock := notifytest.Listen(t)
	n := NewNotifier(nil)

	if err := n.Ready("2 streams, http on 127.0.0.1:9464"); err != nil {
		t.Fatal(err)
	}
	if got, want := sock.Next(t), "READY=1\nSTATUS=2 streams, http on 127.0.0.1:9464"; got != want {
		t.Errorf("Ready sent %q, want %q", got, want)
	}

	if err := n.Reloading("reloading /etc/garssl/garssld.hcl"); err != nil {
		t.Fatal(err)
	}
	got := sock.Next(t)
	lines := strings.Split(got, "\n")
	if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") ||
		lines[2] != "STATUS=reloading /etc/garssl/garssld.hcl" {
		t.Errorf("Reloading sent %q", got)
	} else if usec, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || usec == 0 {
		t.Errorf("Reloading sent a bad MONOTONIC_USEC in %q", got)
	}

	if err := n.Stopping("stopping: SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if got, want := sock.Next(t), "STOPPING=1\nSTATUS=stopping: SIGTERM"; got != want {
		t.Errorf("Stopping sent %q, want %q", got, want)
	}

	// A status is one line: a newline would smuggle in another variable.
	if err := n.Status("config error:\nREADY=1"); err != nil {
		t.Fatal(err)
	}
	if got, want := sock.Next(t), "STATUS=config error: READY=1"; got != want {
		t.Errorf("Status sent %q, want %q", got, want)
	}
	if err := n.Ready(""); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(t); got != "READY=1" {
		t.Errorf("Ready without status sent %q", got)
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier(nil)
	for name, f := range map[string]func(string) error{"Ready": n.Ready, "Stopping": n.Stopping, "Status": n.Status, "Reloading": n.Reloading} {
		if err := f("x"); err != nil {
			t.Errorf("%s outside systemd = %v, want nil", name, err)
		}
	}
}

func TestNotifierSendError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	err := NewNotifier(nil).Ready("")
	if err == nil || !strings.Contains(err.Error(), "sd_notify ready") {
		t.Errorf("Ready to a missing socket = %v, want an error naming the notification", err)
	}
}

// fakeClock is a Clock whose time moves only when the test says and
// whose tickers tick only when the test makes them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers chan *fakeTicker
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), tickers: make(chan *fakeTicker, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	t := &fakeTicker{period: d, c: make(chan time.Time)}
	c.tickers <- t
	return t
}

type fakeTicker struct {
	period time.Duration
	c      chan time.Time // unbuffered: a tick is delivered when Run takes it
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               {}

// tick delivers one tick. Run handles ticks one at a time, so once a tick
// is taken, every earlier tick has been handled completely.
func (t *fakeTicker) tick(tb testing.TB) {
	tb.Helper()
	select {
	case t.c <- time.Time{}:
	case <-time.After(30 * time.Second):
		tb.Fatal("the watchdog did not take a tick")
	}
}

// startWatchdog runs a Watchdog on the real systemd client with a fake
// clock until the test ends. WATCHDOG_USEC is usec ("" for unset).
func startWatchdog(t *testing.T, usec string) (*Watchdog, *fakeClock, *syncbuf.Buffer) {
	t.Helper()
	t.Setenv("WATCHDOG_USEC", usec)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	clk := newFakeClock()
	logs := &syncbuf.Buffer{}
	w, err := NewWatchdog(WatchdogConfig{
		Clock:  clk,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatalf("NewWatchdog: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return w, clk, logs
}

func (c *fakeClock) ticker(t *testing.T) *fakeTicker {
	t.Helper()
	select {
	case tk := <-c.tickers:
		return tk
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog made no ticker")
		return nil
	}
}

func TestWatchdogPingsWhileLoopsBeat(t *testing.T) {
	sock := notifytest.Listen(t)
	w, clk, _ := startWatchdog(t, "2000000") // WatchdogSec=2s
	if !w.Enabled() || w.BeatEvery() != 250*time.Millisecond {
		t.Fatalf("Enabled = %v, BeatEvery = %s; want true, 250ms", w.Enabled(), w.BeatEvery())
	}
	owner := w.Register("owner")
	front := w.Register("stream front") // reconnecting: its supervisor still beats
	tk := clk.ticker(t)
	if tk.period != time.Second {
		t.Errorf("ping period = %s, want WATCHDOG_USEC/2 = 1s", tk.period)
	}
	for i := range 5 {
		clk.Advance(time.Second)
		owner.Beat()
		front.Beat()
		tk.tick(t)
		if got := sock.Next(t); got != "WATCHDOG=1" {
			t.Fatalf("ping %d = %q, want WATCHDOG=1", i, got)
		}
	}
	if hung := w.Hung(); len(hung) != 0 {
		t.Errorf("Hung = %q with every loop beating", hung)
	}
}

func TestWatchdogWithholdsPingsWhileALoopHangs(t *testing.T) {
	sock := notifytest.Listen(t)
	w, clk, logs := startWatchdog(t, "2000000") // hung after 1s without a beat
	owner := w.Register("owner")
	front := w.Register("stream front")
	back := w.Register("stream back")
	tk := clk.ticker(t)

	// front hangs; the others keep beating.
	clk.Advance(600 * time.Millisecond)
	owner.Beat()
	back.Beat()
	tk.tick(t)
	if got := sock.Next(t); got != "WATCHDOG=1" {
		t.Fatalf("ping while front is only 600ms quiet = %q", got)
	}
	for range 3 {
		clk.Advance(600 * time.Millisecond)
		owner.Beat()
		back.Beat()
		tk.tick(t)
	}
	tk.tick(t) // taken only once the ticks before it were handled
	sock.Quiet(t, "with stream front hung")
	if hung := w.Hung(); len(hung) != 1 || hung[0] != "stream front (no progress for 2.4s)" {
		t.Errorf("Hung = %q, want stream front silent for 2.4s", hung)
	}
	if n := strings.Count(logs.String(), "withholding systemd watchdog pings"); n != 1 {
		t.Errorf("withholding logged %d times over 4 hung ticks, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "hung=\"stream front\"") {
		t.Errorf("the log does not name the hung loop:\n%s", logs)
	}

	// It recovers: pings resume.
	front.Beat()
	owner.Beat()
	back.Beat()
	tk.tick(t)
	if got := sock.Next(t); got != "WATCHDOG=1" {
		t.Fatalf("ping after recovery = %q", got)
	}
	if !strings.Contains(logs.String(), "pings resumed") {
		t.Errorf("recovery not logged:\n%s", logs)
	}

	// A loop that ended on purpose no longer counts.
	back.Unregister()
	back.Unregister()
	clk.Advance(900 * time.Millisecond)
	owner.Beat()
	front.Beat()
	clk.Advance(900 * time.Millisecond)
	owner.Beat()
	front.Beat()
	tk.tick(t)
	if got := sock.Next(t); got != "WATCHDOG=1" {
		t.Fatalf("ping after unregistering a silent loop = %q", got)
	}
}

func TestWatchdogDisabled(t *testing.T) {
	for _, tt := range []struct{ name, usec, pid string }{
		{"WATCHDOG_USEC unset", "", ""},
		{"another process's watchdog", "2000000", "1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := notifytest.Listen(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			clk := newFakeClock()
			w, err := NewWatchdog(WatchdogConfig{Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if w.Enabled() {
				t.Error("Enabled = true")
			}
			h := w.Register("owner")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			h.Beat()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
			select {
			case <-clk.tickers:
				t.Error("Run made a ticker without a watchdog")
			default:
			}
			sock.Quiet(t, "without a watchdog")
			// Hung still works, for /healthz, with the default age.
			clk.Advance(DefaultMaxAge + time.Second)
			if hung := w.Hung(); len(hung) != 1 {
				t.Errorf("Hung = %q after %s without a beat", hung, DefaultMaxAge+time.Second)
			}
		})
	}
}

func TestWatchdogBadEnvironment(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "soon")
	t.Setenv("WATCHDOG_PID", "")
	if _, err := NewWatchdog(WatchdogConfig{}); err == nil || !strings.Contains(err.Error(), "systemd watchdog") {
		t.Errorf("NewWatchdog with WATCHDOG_USEC=soon = %v, want an error", err)
	}
}

func TestWatchdogPingFailureLoggedOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	w, clk, logs := startWatchdog(t, "2000000")
	h := w.Register("owner")
	tk := clk.ticker(t)
	for range 3 {
		h.Beat()
		tk.tick(t)
	}
	tk.tick(t)
	if n := strings.Count(logs.String(), "systemd watchdog ping failed"); n != 1 {
		t.Errorf("a failing ping was logged %d times over 3 ticks, want once:\n%s", n, logs)
	}
}

func TestRegisterCountsAsABeat(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	clk := newFakeClock()
	w, err := NewWatchdog(WatchdogConfig{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // a stream added by a reload long after start
	h := w.Register("stream late")
	if hung := w.Hung(); len(hung) != 0 {
		t.Errorf("Hung = %q right after Register", hung)
	}
	clk.Advance(DefaultMaxAge)
	h.Beat()
	clk.Advance(DefaultMaxAge)
	if hung := w.Hung(); len(hung) != 0 {
		t.Errorf("Hung = %q within the maximum age of a beat", hung)
	}
	clk.Advance(time.Millisecond)
	if hung := w.Hung(); len(hung) != 1 || hung[0] != "stream late (no progress for 30.001s)" {
		t.Errorf("Hung = %q just past the maximum age", hung)
	}
}

// Two loops registered under one name (a new scheduler while the one it
// replaces drains) are told apart in /healthz and the log; a freed name
// is taken again.
func TestWatchdogNamesAreUnique(t *testing.T) {
	w, clk, _ := startWatchdog(t, "2000000")
	clk.ticker(t)
	a := w.Register("scheduler")
	b := w.Register("scheduler")
	c := w.Register("scheduler")
	if a.Name() != "scheduler" || b.Name() != "scheduler #2" || c.Name() != "scheduler #3" {
		t.Errorf("names = %q, %q, %q; want scheduler, scheduler #2, scheduler #3", a.Name(), b.Name(), c.Name())
	}
	b.Unregister()
	if d := w.Register("scheduler"); d.Name() != "scheduler #2" {
		t.Errorf("after unregistering #2, a new one is %q", d.Name())
	}
	clk.Advance(2 * time.Second)
	hung := w.Hung()
	if len(hung) != 3 || hung[0] != "scheduler (no progress for 2s)" || hung[1] != "scheduler #2 (no progress for 2s)" {
		t.Errorf("Hung = %q, want three distinct schedulers", hung)
	}
}

// While a stop drains, systemd hears EXTEND_TIMEOUT_USEC every Every, each
// asking for By at most and never past Until; then nothing more.
func TestExtendSendsUntilTheBudgetEnds(t *testing.T) {
	sock := notifytest.Listen(t)
	n := NewNotifier(nil)
	const by, every = 600 * time.Millisecond, 150 * time.Millisecond
	start := time.Now()
	until := start.Add(time.Second)
	if err := n.Extend(context.Background(), Extending{By: by, Every: every, Until: until}); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(until) {
		t.Errorf("Extend returned %s before its budget ended", time.Until(until))
	}
	var got []time.Duration
	for _, m := range sock.All() {
		usec, ok := strings.CutPrefix(m, "EXTEND_TIMEOUT_USEC=")
		v, perr := strconv.ParseInt(usec, 10, 64)
		if !ok || perr != nil {
			t.Fatalf("sent %q, want EXTEND_TIMEOUT_USEC=<n>", m)
		}
		got = append(got, time.Duration(v)*time.Microsecond)
	}
	// A tick every 150 ms over 1 s; the machine may be slow, so only ask
	// for more than one.
	if len(got) < 2 {
		t.Fatalf("sent %d extensions over the budget, want one per tick", len(got))
	}
	if got[0] != by {
		t.Errorf("first extension %s, want %s", got[0], by)
	}
	for i, d := range got {
		if d <= 0 || d > by {
			t.Errorf("extension %d = %s, want within (0, %s]", i, d, by)
		}
	}
	if last := got[len(got)-1]; last >= by {
		t.Errorf("the last extension %s reaches past the budget's end", last)
	}
}

// A cancelled context ends the extensions at once.
func TestExtendStopsWithItsContext(t *testing.T) {
	sock := notifytest.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewNotifier(nil).Extend(ctx, Extending{By: time.Minute, Every: time.Second, Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(t); got != "EXTEND_TIMEOUT_USEC=60000000" {
		t.Errorf("sent %q", got)
	}
	sock.Quiet(t, "after the context ended")
}
