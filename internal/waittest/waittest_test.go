package waittest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recordingTB stops For the way testing.T's Fatalf does (the goroutine
// does not go on) and keeps the message.
type recordingTB struct {
	testing.TB
	fatal string
}

type stopped struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *recordingTB) run(f func()) {
	defer func() {
		if p := recover(); p != nil && p != (stopped{}) {
			panic(p)
		}
	}()
	f()
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var done atomic.Bool
	time.AfterFunc(50*time.Millisecond, func() { done.Store(true) })
	tb := &recordingTB{TB: t}
	tb.run(func() { For(tb, "the flag", time.Minute, done.Load) })
	if tb.fatal != "" || !done.Load() {
		t.Errorf("For returned with the flag %v and failure %q", done.Load(), tb.fatal)
	}
}

func TestForFailsNamingWhatItWaitedFor(t *testing.T) {
	tb := &recordingTB{TB: t}
	began := time.Now()
	tb.run(func() { For(tb, "the flag", 30*time.Millisecond, func() bool { return false }) })
	if !strings.Contains(tb.fatal, "waiting for the flag") || !strings.Contains(tb.fatal, "30ms") {
		t.Errorf("failure %q does not name what it waited for and how long", tb.fatal)
	}
	if waited := time.Since(began); waited < 30*time.Millisecond {
		t.Errorf("gave up after %v, before the timeout", waited)
	}
}
