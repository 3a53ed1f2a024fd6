package view

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/windowing"
)

// ringWindow is a window whose media are filled with seq, so a reader can
// tell its bytes from any other window's.
func ringWindow(stream string, seq uint64, frame bool) *windowing.Window {
	fill := func(n int) []byte { return bytes.Repeat([]byte{byte(seq)}, n) }
	w := &windowing.Window{Stream: stream, Seq: seq, JPEG: fill(3000), WAV: fill(96044)}
	if frame {
		w.Frame, w.FrameWidth, w.FrameHeight = fill(20000), 960, 540
	}
	return w
}

// The ring keeps copies of its windows' media outside the Go heap, maps
// exactly what it keeps, and unmaps what it evicts or forgets.
func TestRingMapsWhatItKeeps(t *testing.T) {
	r := newRing(3)
	const size = 3000 + 20000 + 96044
	for seq := uint64(1); seq <= 10; seq++ {
		w := ringWindow("front", seq, true)
		r.put(w, time.Now())
		// The ring's copy does not share the window's memory.
		w.JPEG[0], w.Frame[0], w.WAV[0] = 0xff, 0xff, 0xff
	}
	r.put(ringWindow("rear", 1, false), time.Now())
	if got, want := r.mapped.Load(), int64(3*size+3000+96044); got != want {
		t.Fatalf("%d bytes mapped for 3 front windows and 1 rear one, want %d", got, want)
	}
	if got, want := r.bytes(), 3*size+3000+96044; got != want {
		t.Fatalf("ring says it holds %d bytes, want %d", got, want)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		m := r.get("front", seq)
		if seq <= 7 {
			if m != nil {
				t.Fatalf("front/%d still kept after 10 windows in a ring of 3", seq)
			}
			continue
		}
		if m == nil {
			t.Fatalf("front/%d not kept", seq)
		}
		for name, b := range map[string][]byte{"model": m.Model, "frame": m.Frame, "audio": m.WAV} {
			if len(b) == 0 || b[0] != byte(seq) || b[len(b)-1] != byte(seq) {
				t.Fatalf("front/%d %s holds %d bytes starting %v, want its own", seq, name, len(b), b[:min(len(b), 1)])
			}
		}
		m.Release()
	}
	if m := r.get("rear", 1); m == nil || m.Frame != nil {
		t.Fatalf("rear/1 without a frame: got %+v", m)
	} else {
		m.Release()
	}
	r.forget(map[string]bool{"rear": true})
	if got, want := r.mapped.Load(), int64(3000+96044); got != want {
		t.Fatalf("%d bytes mapped after forgetting front, want %d", got, want)
	}
	r.forget(nil)
	if got := r.mapped.Load(); got != 0 {
		t.Fatalf("%d bytes still mapped after forgetting every stream", got)
	}
}

// A response reading a window keeps its media mapped while the ring
// evicts it; the last release unmaps.
func TestRingReaderOutlivesEviction(t *testing.T) {
	r := newRing(1)
	r.put(ringWindow("front", 1, true), time.Now())
	m := r.get("front", 1)
	r.put(ringWindow("front", 2, true), time.Now())
	if r.get("front", 1) != nil {
		t.Fatal("front/1 still in a ring of 1 after front/2")
	}
	// Still readable: a use after unmap would crash here.
	for _, b := range [][]byte{m.Model, m.Frame, m.WAV} {
		for _, c := range b {
			if c != 1 {
				t.Fatalf("front/1 read %d after its eviction, want 1", c)
			}
		}
	}
	const size = 3000 + 20000 + 96044
	if got := r.mapped.Load(); got != 2*size {
		t.Fatalf("%d bytes mapped with front/1 read and front/2 kept, want %d", got, 2*size)
	}
	m.Release()
	if got := r.mapped.Load(); got != size {
		t.Fatalf("%d bytes mapped once front/1's reader is done, want %d", got, size)
	}
	r.forget(nil)
}

// Readers and writers at once, under the race detector: every mapping is
// gone once the ring is forgotten and the readers are done.
func TestRingConcurrentReaders(t *testing.T) {
	r := newRing(2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for seq := uint64(1); seq <= 200; seq++ {
					if m := r.get("front", seq); m != nil {
						if m.WAV[len(m.WAV)-1] != byte(seq) {
							t.Errorf("front/%d read another window's audio", seq)
						}
						m.Release()
					}
				}
			}
		})
	}
	for seq := uint64(1); seq <= 200; seq++ {
		r.put(ringWindow("front", seq, seq%2 == 0), time.Now())
	}
	close(stop)
	wg.Wait()
	r.forget(nil)
	if got := r.mapped.Load(); got != 0 {
		t.Fatalf("%d bytes still mapped", got)
	}
}

// A ring dropped whole, as when a reload turns the view off, is unmapped by
// the collector.
func TestDroppedRingIsUnmapped(t *testing.T) {
	counter := func() *atomic.Int64 {
		r := newRing(4)
		for seq := uint64(1); seq <= 4; seq++ {
			r.put(ringWindow("front", seq, true), time.Now())
		}
		return r.mapped
	}()
	if counter.Load() == 0 {
		t.Fatal("nothing mapped for 4 windows")
	}
	waittest.For(t, "the dropped ring unmapped", 10*time.Second, func() bool {
		runtime.GC()
		return counter.Load() == 0
	})
}

// Should mapping fail, the view keeps the window's own slices, serves
// them all the same, counts each such window, and logs once per episode.
func TestRingKeepsMediaOnTheHeapWhenMappingFails(t *testing.T) {
	var logged bytes.Buffer
	obs := &counter{}
	v, err := New(Options{RunID: testRun, Windows: 4, MaxViewers: 1, Observer: obs,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logged, Level: hclog.Warn})})
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(int, int64, int, int, int) ([]byte, error) { return nil, syscall.ENOMEM }
	defer func(m func(int, int64, int, int, int) ([]byte, error)) { mmap = m }(mmap)

	mmap = refuse
	v.Window(ringWindow("front", 1, true))
	v.Window(ringWindow("front", 2, true))
	mmap = syscall.Mmap
	v.Window(ringWindow("front", 3, true))
	mmap = refuse
	v.Window(ringWindow("front", 4, true))

	if n := obs.get("on_heap"); n != 3 {
		t.Errorf("%d windows counted as kept on the heap, want 3", n)
	}
	if n := strings.Count(logged.String(), "keeps windows' media on the heap"); n != 2 {
		t.Errorf("logged %d times, want twice (one per episode):\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "cannot allocate memory") {
		t.Errorf("the log does not say why mapping failed:\n%s", logged.String())
	}
	if got := v.ring.mapped.Load(); got != 3000+20000+96044 {
		t.Errorf("%d bytes mapped, want window 3's alone", got)
	}
	for seq := uint64(1); seq <= 4; seq++ {
		m := v.ring.get("front", seq)
		if m == nil || len(m.Frame) != 20000 || m.Frame[0] != byte(seq) || len(m.WAV) != 96044 || m.WAV[96043] != byte(seq) {
			t.Fatalf("front/%d not served whole: %+v", seq, m)
		}
		m.Release()
	}
}
