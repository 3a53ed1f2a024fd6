package publish

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Pacing of set commands, per stream.
const (
	// commandApplyEvery is the least time between two OnSet calls for one
	// stream: each may restart the capture, which reopens a camera.
	commandApplyEvery = time.Second
	// commandLogEvery is the least time between two log lines about one
	// stream's commands; each line carries how many arrived since the last.
	commandLogEvery = 10 * time.Second
)

// commandSlots holds, per stream, the latest set command not yet applied:
// a latest-value slot, so a flood of commands costs a map write each and
// the last one wins. put runs on paho's router goroutine (OrderMatters),
// so it only records and signals.
type commandSlots struct {
	mu    sync.Mutex
	slots map[string]*commandSlot
	wake  chan struct{}
}

type commandSlot struct {
	enabled  bool
	waiting  bool      // enabled awaits OnSet
	received int       // commands since the last log line
	applied  time.Time // last OnSet
	logged   time.Time // last log line
}

func newCommandSlots() *commandSlots {
	return &commandSlots{slots: make(map[string]*commandSlot), wake: make(chan struct{}, 1)}
}

// put records a command for stream. O(1), never blocks.
func (c *commandSlots) put(stream string, enabled bool) {
	c.mu.Lock()
	s := c.slots[stream]
	if s == nil {
		s = &commandSlot{}
		c.slots[stream] = s
	}
	s.enabled, s.waiting = enabled, true
	s.received++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// forget drops the slots of streams no longer configured, so the map
// stays bounded by the stream list.
func (c *commandSlots) forget(known map[string]bool) {
	c.mu.Lock()
	maps.DeleteFunc(c.slots, func(s string, _ *commandSlot) bool { return !known[s] })
	c.mu.Unlock()
}

// due takes the commands that may be applied at now, in stream order,
// and the lines to log; it returns when the next one is due (zero when
// nothing waits).
func (c *commandSlots) due(now time.Time) (apply []appliedCommand, logs []commandLog, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(c.slots)) {
		s := c.slots[name]
		if s.waiting {
			if at := s.applied.Add(commandApplyEvery); now.Before(at) {
				next = earliest(next, at)
			} else {
				s.waiting, s.applied = false, now
				apply = append(apply, appliedCommand{stream: name, enabled: s.enabled})
			}
		}
		if s.received > 0 {
			if at := s.logged.Add(commandLogEvery); now.Before(at) {
				next = earliest(next, at)
			} else {
				logs = append(logs, commandLog{stream: name, enabled: s.enabled, received: s.received})
				s.received, s.logged = 0, now
			}
		}
	}
	return apply, logs, next
}

type appliedCommand struct {
	stream  string
	enabled bool
}

type commandLog struct {
	stream   string
	enabled  bool
	received int
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// run calls apply with the latest command per stream, at most once per
// stream per commandApplyEvery, and logs one line per stream per
// commandLogEvery, until stop closes.
func (c *commandSlots) run(stop <-chan struct{}, log hclog.Logger, apply func(stream string, enabled bool)) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		cmds, logs, next := c.due(time.Now())
		for _, l := range logs {
			log.Info("set commands received", "stream", l.stream, "count", l.received, "latest_enabled", l.enabled)
		}
		for _, cmd := range cmds {
			if apply != nil {
				apply(cmd.stream, cmd.enabled)
			}
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-stop:
			return
		case <-c.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}
