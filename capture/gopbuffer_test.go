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
	// Two GOPs of 25 frames, key frames at 0 and 1 s, no reordering.
	var held []heldPacket
	for i := range 50 {
		held = append(held, heldPacket{time.Duration(i) * frame, i%25 == 0})
	}
	b := holding(t, held...)
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
		if got := b.startFor(tc.target, true); got != tc.start {
			t.Errorf("startFor(%v) = packet %d (at %v), want %d", tc.target, got, b.q[got].pos, tc.start)
		}
	}
}

// TestStartForWaitsForLeadingPictures: with reordering, frames presented
// before a key frame (an open GOP's leading pictures) may still come after
// it, so the key frame nearest the target is no reason to skip the GOP
// before: decoding starts where the frame before the target needs it.
func TestStartForWaitsForLeadingPictures(t *testing.T) {
	ms := time.Millisecond
	// Decode order: K1(0) P(920) K2(1040); B(960) and B(1000), leading
	// pictures of K2, are still to come.
	b := holding(t, heldPacket{0, true}, heldPacket{920 * ms, false}, heldPacket{1040 * ms, true})
	if got := b.startFor(1000*ms, false); got != 0 {
		t.Errorf("with reordering, startFor = packet %d (at %v), want 0: the B-frame at 1000 ms may still come", got, b.q[got].pos)
	}
	if got := b.startFor(1000*ms, true); got != 2 {
		t.Errorf("in presentation order, startFor = packet %d, want 2 (the key frame, nearer)", got)
	}
}

type heldPacket struct {
	pos time.Duration
	key bool
}

// holding is a gopBuffer holding packets at the given positions (decode
// order as given, dts = pts), freed when the test ends.
func holding(t *testing.T, packets ...heldPacket) *gopBuffer {
	t.Helper()
	b := &gopBuffer{}
	t.Cleanup(b.clear)
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	if err := pkt.AllocPayload(16); err != nil {
		t.Fatal(err)
	}
	for _, p := range packets {
		if err := b.push(pkt, p.pos, p.pos, p.key); err != nil {
			t.Fatal(err)
		}
	}
	return b
}
