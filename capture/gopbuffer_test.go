package capture

import (
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// TestStartForDecodesOnlyThePicture: decoding starts where the frame that
// becomes the picture needs it. When the frame at or after the target is
// the nearer (or as near), the frame before it, and the GOP that frame
// ends, stay unopened: a key frame on a window's centre is decoded alone.
func TestStartForDecodesOnlyThePicture(t *testing.T) {
	ms := time.Millisecond
	frame := 40 * ms
	var b gopBuffer
	defer b.clear()
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	if err := pkt.AllocPayload(16); err != nil {
		t.Fatal(err)
	}
	// Two GOPs of 25 frames, key frames at 0 and 1 s, no reordering.
	for i := range 50 {
		pos := time.Duration(i) * frame
		if err := b.push(pkt, pos, pos, i%25 == 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		target time.Duration
		start  int
	}{
		{1000 * ms, 25},                     // on the key frame
		{1000*ms - 10*time.Microsecond, 25}, // just before it: the key frame is nearer
		{980 * ms, 25},                      // halfway: a tie goes to the later frame
		{970 * ms, 0},                       // the frame at 960 ms is nearer: its GOP
		{1030 * ms, 25},                     // inside the second GOP
		{400 * ms, 0},
		{2100 * ms, 25}, // past the buffer: its last GOP
	} {
		if got := b.startFor(tc.target); got != tc.start {
			t.Errorf("startFor(%v) = packet %d (at %v), want %d", tc.target, got, b.q[got].pos, tc.start)
		}
	}
}
