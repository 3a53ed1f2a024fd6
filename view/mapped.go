package view

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// mapped holds a copy of one window's media outside the Go heap, in an
// anonymous mapping. The ring's media are the view's bulk (streams ×
// windows × about 150 KB) and stay for minutes; on the heap, the
// collector's headroom (GOGC) would add half their size again to the
// daemon's resident memory, where a mapping costs its pages and no more.
//
// The ring holds one reference and each response that reads the media
// another; the last release unmaps. Should a ring be dropped whole (the
// view turned off by a reload), a cleanup unmaps once the collector finds
// the entry unreachable.
type mapped struct {
	refs atomic.Int32
	m    *mapping
}

// mapping is the memory itself, apart from mapped so that the cleanup can
// reach it without keeping the entry alive.
type mapping struct {
	mem     []byte
	once    sync.Once
	counter *atomic.Int64 // the ring's mapped bytes
}

func (m *mapping) unmap() {
	m.once.Do(func() {
		if m.mem != nil {
			// Nothing can fail here that a caller could act on: the
			// range is ours and mapped.
			_ = syscall.Munmap(m.mem)
			m.counter.Add(-int64(len(m.mem)))
		}
	})
}

// mmap is syscall.Mmap; tests make it fail.
var mmap = syscall.Mmap

// mapCopy copies parts into one new mapping and returns the copies; empty
// parts are returned as they are. The entry starts with one reference,
// the ring's; counter counts the bytes mapped until they are unmapped.
func mapCopy(counter *atomic.Int64, parts ...[]byte) (*mapped, [][]byte, error) {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	if total == 0 {
		mp := &mapped{m: &mapping{counter: counter}}
		mp.refs.Store(1)
		return mp, parts, nil
	}
	out := make([][]byte, len(parts))
	mem, err := mmap(-1, 0, total, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("map %d bytes for a window's media: %w", total, err)
	}
	counter.Add(int64(len(mem)))
	off := 0
	for i, p := range parts {
		if len(p) == 0 {
			out[i] = p
			continue
		}
		out[i] = mem[off : off+len(p) : off+len(p)]
		copy(out[i], p)
		off += len(p)
	}
	mp := &mapped{m: &mapping{mem: mem, counter: counter}}
	mp.refs.Store(1)
	runtime.AddCleanup(mp, (*mapping).unmap, mp.m)
	return mp, out, nil
}

// acquire adds a reference for a reader. The caller must hold whatever
// keeps the entry from its last release meanwhile (the ring's lock).
func (mp *mapped) acquire() {
	if mp != nil {
		mp.refs.Add(1)
	}
}

// release drops a reference; the last one unmaps the media, which must not
// be read afterwards.
func (mp *mapped) release() {
	if mp == nil {
		return
	}
	if mp.refs.Add(-1) == 0 {
		mp.m.unmap()
	}
}
