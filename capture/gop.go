package capture

import (
	"time"

	"github.com/asticode/go-astiav"
)

// How a video decoder picks the frame for a picture target (Config.FramePick).
const (
	// FramePickExact decodes only the packets the frame nearest the target
	// depends on: the picture is bit-identical to a full decode's.
	FramePickExact = "exact"
	// FramePickNearestKey takes the key frame nearest the target when it
	// lies within Config.FrameTolerance, decoding it alone; otherwise as
	// exact.
	FramePickNearestKey = "nearest_key"
	// FramePickAll decodes every frame, as garssld did before GOP-aware
	// decoding: the reference for exact, and the baseline of the benchmarks.
	FramePickAll = "all"
)

// Bounds of the packet buffer a video decoder keeps since the last key
// frame (and, for open GOPs, since the one before). A GOP that outgrows
// them is decoded in full.
const (
	GOPBufferBytes    = 16 << 20
	GOPBufferDuration = 10 * time.Second
	// DefaultFrameTolerance is how far off the target nearest_key may take
	// a key frame.
	DefaultFrameTolerance = 500 * time.Millisecond
)

// Reasons a window's picture came from a full decode, as counted in
// Stats.FullDecodeWindows.
const (
	FullNoKeyframe      = "no_keyframe"       // no key frame yet: a stream joined mid-GOP, or intra refresh
	FullGOPTooLong      = "gop_too_long"      // key frames further apart than the buffer holds
	FullNoKeyframeFlags = "no_keyframe_flags" // the decoder finds key frames the demuxer did not flag
	FullOpenGOP         = "open_gop"          // leading pictures need two GOPs, more than the buffer holds
)

// FullDecodeReasons lists the reasons, in a fixed order.
var FullDecodeReasons = [...]string{FullNoKeyframe, FullGOPTooLong, FullNoKeyframeFlags, FullOpenGOP}

// queued is a packet held back from the decoder.
type queued struct {
	pkt  *astiav.Packet // a reference of its own
	pos  time.Duration  // its presentation position on the timeline
	dts  time.Duration  // its decode position (pos when unknown)
	key  bool
	size int
}

// gopBuffer holds the packets of the current GOP (and of the previous one,
// for open GOPs) in decode order, and where the decoder stands in them.
// q[0] is always a key frame.
type gopBuffer struct {
	q      []queued
	bytes  int
	next   int  // q[:next] went to the decoder, contiguously…
	synced bool // …from a key frame, so q[next] can follow without a jump
	// skipBefore: after a jump to a key frame, the leading pictures that
	// follow it (presented before it; open GOPs only) are not sent: they
	// reference the GOP the jump skipped. Zero when not skipping.
	skipBefore time.Duration
	skipping   bool
}

func (b *gopBuffer) push(pkt *astiav.Packet, pos, dts time.Duration, key bool) error {
	ref := astiav.AllocPacket()
	if err := ref.Ref(pkt); err != nil {
		ref.Free()
		return err
	}
	b.q = append(b.q, queued{pkt: ref, pos: pos, dts: dts, key: key, size: pkt.Size()})
	b.bytes += pkt.Size()
	return nil
}

// dropBefore forgets q[:i]. The decoder stays synced only if it got them all.
func (b *gopBuffer) dropBefore(i int) {
	if i <= 0 {
		return
	}
	for _, e := range b.q[:i] {
		b.bytes -= e.size
		e.pkt.Free()
	}
	n := copy(b.q, b.q[i:])
	clear(b.q[n:])
	b.q = b.q[:n]
	if b.next >= i {
		b.next -= i
	} else {
		b.next, b.synced = 0, false
	}
}

func (b *gopBuffer) clear() { b.dropBefore(len(b.q)) }

// lastKey is the index of the latest key frame; -1 when none.
func (b *gopBuffer) lastKey() int {
	for i := len(b.q) - 1; i >= 0; i-- {
		if b.q[i].key {
			return i
		}
	}
	return -1
}

// keyFor is the key frame decoding must start from for q[i] to come out
// right: the one before it in decode order, or for a leading picture (an
// open GOP's, presented before its key frame) the one before that.
func (b *gopBuffer) keyFor(i int) int {
	k := i
	for k > 0 && !b.q[k].key {
		k--
	}
	if b.q[i].pos < b.q[k].pos {
		for k--; k > 0 && !b.q[k].key; k-- {
		}
	}
	return max(k, 0)
}

// around returns the packets presented last before target (a) and first at
// or after it (b); -1 where there is none.
func (b *gopBuffer) around(target time.Duration) (a, bi int) {
	a, bi = -1, -1
	for i, e := range b.q {
		if e.pos < target && (a < 0 || e.pos > b.q[a].pos) {
			a = i
		}
		if e.pos >= target && (bi < 0 || e.pos < b.q[bi].pos) {
			bi = i
		}
	}
	return a, bi
}

// startFor is where decoding must start so that the frames around target
// come out right. inOrder says packets come in presentation order (no
// B-frames, so no leading pictures either): then every frame presented
// before one held has come, and the nearer of the two around target is
// known from the packets alone.
func (b *gopBuffer) startFor(target time.Duration, inOrder bool) int {
	a, bi := b.around(target)
	start := len(b.q)
	switch {
	case inOrder && bi >= 0 && (a < 0 || b.q[bi].pos-target <= target-b.q[a].pos):
		// The frame at or after the target is the picture (the picker
		// takes it on a tie too), so the one before it need not come out,
		// nor, when it ends the GOP before, that GOP: a key frame on a
		// window's centre is decoded alone.
		start = b.keyFor(bi)
	case a >= 0:
		start = b.keyFor(a)
		if bi >= 0 {
			start = min(start, b.keyFor(bi))
		}
	}
	return min(start, max(len(b.q)-1, 0))
}

// keysAround returns the key frames presented last before target and first
// at or after it; -1 where there is none.
func (b *gopBuffer) keysAround(target time.Duration) (a, bi int) {
	a, bi = -1, -1
	for i, e := range b.q {
		switch {
		case !e.key:
		case e.pos < target:
			a = i
		case bi < 0:
			bi = i
		}
	}
	return a, bi
}

// seek makes q[start] the next packet to send: a jump, unless the decoder
// already stands there or further on in the same run.
func (b *gopBuffer) seek(start int) {
	if b.synced && b.next >= start {
		return
	}
	b.next, b.synced = start, true
	b.skipBefore, b.skipping = b.q[start].pos, true
}

// take returns the next packet to send, skipping leading pictures after a
// jump; nil when the buffer is sent.
func (b *gopBuffer) take() *queued {
	for b.next < len(b.q) {
		e := &b.q[b.next]
		b.next++
		if e.key && e.pos != b.skipBefore {
			b.skipping = false
		}
		if b.skipping && !e.key && e.pos < b.skipBefore {
			continue
		}
		return e
	}
	return nil
}

// span is how much media the buffer holds.
func (b *gopBuffer) span() time.Duration {
	if len(b.q) == 0 {
		return 0
	}
	return b.q[len(b.q)-1].dts - b.q[0].dts
}
