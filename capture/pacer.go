package capture

import (
	"sync"
	"time"
)

// pacerLead is how far one file input may run ahead of the other on the
// timeline. Two files are read as fast as they decode, each in its own
// goroutine; without pacing, the microphone file could finish before the
// camera's first picture and every window would look like a frozen camera.
const pacerLead = 500 * time.Millisecond

// pacer holds back the input that is ahead when a Source reads two files.
// Live inputs need none: the wall clock paces them.
type pacer struct {
	enabled bool
	mu      sync.Mutex
	cond    *sync.Cond
	pos     [2]time.Duration
	done    [2]bool
}

func newPacer(enabled bool) *pacer {
	p := &pacer{enabled: enabled}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// advance records that input i reached pos and waits while it is more than
// pacerLead ahead of the other input, unless that one has finished.
func (p *pacer) advance(i int, pos time.Duration) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pos > p.pos[i] {
		p.pos[i] = pos
		p.cond.Broadcast()
	}
	for !p.done[1-i] && !p.done[i] && p.pos[i] > p.pos[1-i]+pacerLead {
		p.cond.Wait()
	}
}

// finish marks input i as ended, releasing the other.
func (p *pacer) finish(i int) {
	p.mu.Lock()
	p.done[i] = true
	p.mu.Unlock()
	p.cond.Broadcast()
}
