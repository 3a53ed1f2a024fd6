package capture

import (
	"errors"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The camera and a separate microphone report state changes from their
// own goroutines: every reported change carries the next Seq, numbered
// under the Source's lock in the order the changes happened, so that a
// consumer can drop a callback that arrives after a newer one.
func TestStatusChangesAreNumberedInOrder(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []Status
	)
	src, err := New(Config{Name: "front", Input: "cam.mp4", Audio: "mic.wav", ModelWidth: 224, ModelHeight: 224},
		nil, hclog.NewNullLogger(), func(st Status) {
			mu.Lock()
			seen = append(seen, st)
			mu.Unlock()
		})
	if err != nil {
		t.Fatal(err)
	}
	src.setState("cam.mp4", StateConnecting, "")      // no change: the Source starts connecting
	src.setState("cam.mp4", StateRunning, "")         // the mic is not known yet: running
	src.setState("mic.wav", StateReconnecting, "EOF") // 2
	src.setState("mic.wav", StateReconnecting, "EOF") // no change
	src.setState("mic.wav", StateRunning, "")         // 3
	src.stopped(errors.New("gone"))                   // 4

	want := []State{StateRunning, StateReconnecting, StateRunning, StateStopped}
	if len(seen) != len(want) {
		t.Fatalf("%d changes reported, want %d: %+v", len(seen), len(want), seen)
	}
	for i, st := range seen {
		if st.State != want[i] || st.Seq != uint64(i+1) {
			t.Errorf("change %d: %s seq %d, want %s seq %d", i, st.State, st.Seq, want[i], i+1)
		}
	}
	if got := src.Status().Seq; got != 4 {
		t.Errorf("Status().Seq = %d, want the last change's 4", got)
	}

	// Concurrent inputs: the numbers are distinct and complete.
	var wg sync.WaitGroup
	for _, in := range []string{"cam.mp4", "mic.wav"} {
		wg.Go(func() {
			for i := range 200 {
				src.setState(in, []State{StateReconnecting, StateRunning}[i%2], "")
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	nums := map[uint64]bool{}
	for _, st := range seen {
		nums[st.Seq] = true
	}
	for n := uint64(1); n <= uint64(len(seen)); n++ {
		if !nums[n] {
			t.Fatalf("seq %d missing among %d reported changes", n, len(seen))
		}
	}
}
