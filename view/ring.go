package view

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/garssl/garssld/windowing"
)

// Media is what the view keeps of one window: the three files served
// under /windows/<run_id>/<stream>/<seq>/.
type Media struct {
	Stream string
	Seq    uint64
	// Model is the JPEG the model saw; Frame the camera frame at most
	// media.FrameMaxWidth wide (nil when capture did not encode it); WAV
	// the window's audio.
	Model, Frame, WAV []byte
	// FrameWidth and FrameHeight are Frame's size.
	FrameWidth, FrameHeight int
	// Added is when the window entered the ring: the files' Last-Modified.
	Added time.Time

	// mem holds Model, Frame and WAV outside the Go heap (nil when they
	// could not be mapped and stay on the heap).
	mem *mapped
}

// Release ends a reader's use of the media that get returned: their bytes
// must not be read afterwards.
func (m *Media) Release() { m.mem.release() }

// size is what the entry holds in memory.
func (m *Media) size() int { return len(m.Model) + len(m.Frame) + len(m.WAV) }

// ring keeps the media of the last n published windows of every stream:
// the scheduler hands each window over just before its detection is
// published, so the strip of the last n detections has all of its media.
type ring struct {
	n       int
	mu      sync.Mutex
	streams map[string][]*Media // oldest first, at most n each
	// mapped counts the bytes of the media mapped outside the heap, those
	// of evicted windows still being read included.
	mapped *atomic.Int64
	// onHeap is told of a window kept on the heap, first when the mapping
	// before it succeeded (or it is the first); nil tells nobody.
	onHeap    func(err error, first bool)
	onHeapNow atomic.Bool
}

func newRing(n int) *ring {
	return &ring{n: max(n, 1), streams: make(map[string][]*Media), mapped: new(atomic.Int64)}
}

// put adds a copy of w's media, mapped outside the Go heap, and evicts
// the stream's oldest beyond n. Should the mapping fail, the window's own
// slices are kept: windowing hands each window on once and nothing writes
// to them afterwards.
func (r *ring) put(w *windowing.Window, now time.Time) {
	m := &Media{Stream: w.Stream, Seq: w.Seq, Model: w.JPEG, Frame: w.Frame, WAV: w.WAV,
		FrameWidth: w.FrameWidth, FrameHeight: w.FrameHeight, Added: now}
	mem, parts, err := mapCopy(r.mapped, w.JPEG, w.Frame, w.WAV)
	switch {
	case err == nil:
		m.mem, m.Model, m.Frame, m.WAV = mem, parts[0], parts[1], parts[2]
		r.onHeapNow.Store(false)
	case r.onHeap != nil:
		r.onHeap(err, !r.onHeapNow.Swap(true))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.streams[w.Stream]
	if len(list) >= r.n {
		evicted := len(list) - r.n + 1
		for _, old := range list[:evicted] {
			old.mem.release()
		}
		// Shift rather than reslice, so the backing array stays n long.
		copy(list, list[evicted:])
		clear(list[r.n-1:])
		list = list[:r.n-1]
	}
	r.streams[w.Stream] = append(list, m)
}

// get returns the media of stream's window seq, or nil once it left the
// ring. The caller must Release what it got.
func (r *ring) get(stream string, seq uint64) *Media {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.streams[stream] {
		if m.Seq == seq {
			m.mem.acquire()
			return m
		}
	}
	return nil
}

// forget drops the windows of streams not in keep (removed by a reload).
func (r *ring) forget(keep map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, list := range r.streams {
		if !keep[s] {
			for _, m := range list {
				m.mem.release()
			}
			delete(r.streams, s)
		}
	}
}

// bytes is the memory the ring's media take.
func (r *ring) bytes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, list := range r.streams {
		for _, m := range list {
			total += m.size()
		}
	}
	return total
}
