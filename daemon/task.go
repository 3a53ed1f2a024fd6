package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/garssl/garssld/sdnotify"
)

// task is one goroutine the daemon started, with the means to stop it and
// wait for it: every goroutine has an owner that cancels it and waits for
// it. Tasks are started and stopped by the owner loop only.
type task struct {
	name string
	stop context.CancelFunc
	beat *loopBeat // the loop's heartbeat, or nil
	done chan struct{}
	err  error // valid once done is closed
}

// startTask runs fn on a goroutine under a context of its own, derived from
// parent. If fn returns before stop was called, poke is signalled
// (without blocking) so that the owner looks at its tasks: a component that
// ends by itself has failed. beat, if not nil, is the task's heartbeat: it
// is unregistered when the task is cancelled or returns.
func startTask(parent context.Context, name string, beat *loopBeat, poke chan<- struct{}, fn func(ctx context.Context) error) *task {
	ctx, cancel := context.WithCancel(parent)
	t := &task{name: name, stop: cancel, beat: beat, done: make(chan struct{})}
	go func() {
		err := fn(ctx)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		t.beat.unregister()
		t.err = err
		close(t.done)
		if ctx.Err() == nil && poke != nil {
			select {
			case poke <- struct{}{}:
			default: // a poke is pending already
			}
		}
	}()
	return t
}

// cancel asks the task to end, and stops watching its heartbeat: a task
// that drains after it was cancelled (a replaced scheduler finishing its
// windows) is not hung, and whoever waits for it beats meanwhile.
func (t *task) cancel() {
	t.stop()
	t.beat.unregister()
}

// ended reports whether the task has ended without being stopped,
// and its error.
func (t *task) ended() (bool, error) {
	select {
	case <-t.done:
		return true, t.err
	default:
		return false, nil
	}
}

// startTask starts a task under the daemon's base context, which Run's
// context ending does not cancel: the owner stops tasks itself, in order.
func (d *Daemon) startTask(name string, beat *loopBeat, poke chan<- struct{}, fn func(ctx context.Context) error) *task {
	t := startTask(d.base, name, beat, poke, fn)
	if d.opts.test.onTask != nil {
		d.opts.test.onTask(t)
	}
	return t
}

// loopBeat is the heartbeat of a task's loop, for a loop that is built
// before its task runs (a publisher built by a reload that may be
// refused) or that starts after its task does (a publisher that waits for
// the one it replaces): register puts it under the watchdog, and after
// unregister it never is again. Beat before register does nothing.
type loopBeat struct {
	wd   *sdnotify.Watchdog
	name string

	mu    sync.Mutex
	hb    *sdnotify.Heartbeat
	ended bool
}

func newLoopBeat(wd *sdnotify.Watchdog, name string) *loopBeat {
	return &loopBeat{wd: wd, name: name}
}

// register starts watching the loop, counting it as having beaten now.
func (b *loopBeat) register() *loopBeat {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hb == nil && !b.ended {
		b.hb = b.wd.Register(b.name)
	}
	return b
}

// Beat records the loop's progress; safe from any goroutine.
func (b *loopBeat) Beat() {
	b.mu.Lock()
	hb := b.hb
	b.mu.Unlock()
	if hb != nil {
		hb.Beat()
	}
}

// shownName is the loop's name as /healthz shows it, once registered.
func (b *loopBeat) shownName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hb == nil {
		return ""
	}
	return b.hb.Name()
}

// unregister stops watching the loop for good. A nil loopBeat does
// nothing.
func (b *loopBeat) unregister() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = true
	if b.hb != nil {
		b.hb.Unregister()
	}
}
