package daemon

import (
	"context"
	"fmt"
)

// task is one goroutine the daemon started, with the means to stop it and
// wait for it: every goroutine has an owner that cancels it and waits for
// it. Tasks are started and stopped by the owner loop only.
type task struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // valid once done is closed
}

// startTask runs fn on a goroutine under a context of its own, derived from
// parent. If fn returns before stop was called, poke is signalled
// (without blocking) so that the owner looks at its tasks: a component that
// ends by itself has failed.
func startTask(parent context.Context, name string, poke chan<- struct{}, fn func(ctx context.Context) error) *task {
	ctx, cancel := context.WithCancel(parent)
	t := &task{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		err := fn(ctx)
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
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

// stop cancels the task and returns once it has ended, with its error.
func (t *task) stop() error {
	t.cancel()
	<-t.done
	return t.err
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
func (d *Daemon) startTask(name string, poke chan<- struct{}, fn func(ctx context.Context) error) *task {
	t := startTask(d.base, name, poke, fn)
	if d.opts.test.onTask != nil {
		d.opts.test.onTask(t)
	}
	return t
}
