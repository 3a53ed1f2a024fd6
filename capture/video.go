package capture

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/garssl/garssld/media"
)

// videoOptions say how a video decoder picks its frames.
type videoOptions struct {
	pick      string        // FramePick*; "" is FramePickAll (stills)
	tolerance time.Duration // for FramePickNearestKey
	maxBytes  int           // bounds of the GOP buffer
	maxDur    time.Duration
	stats     *videoStats // nil: not counted
	// alignGrid: a live input's key frames are offered to a
	// media.GridSink, so that windows may be centred on key frames.
	alignGrid bool
}

// videoDecoder decodes one video stream and offers frames to the input's
// picker. Unless it decodes every frame (FramePickAll), it holds the
// packets of the current GOP back and decodes only those the frame nearest
// each picture target depends on: when a packet at or past the target has
// come, it decodes from the key frame the frames around the target need,
// and goes on with each packet that arrives until the picker has chosen.
// Every other packet passes the decoder unopened; its position still
// reaches the sink (VideoAt).
type videoDecoder struct {
	stream *astiav.Stream
	cc     *astiav.CodecContext
	frame  *astiav.Frame // receives decoded frames
	pick   *picker
	opts   videoOptions

	buf     gopBuffer
	full    string // why every packet is decoded now; "" when GOP-aware
	active  bool   // decoding towards activeT
	activeT time.Duration
	// want is the position of the key frame nearest_key chose; frames
	// decoded on the way to it are not offered.
	want    time.Duration
	wanting bool
	keyPick bool          // the decode under way is nearest_key's
	lastKey time.Duration // position of the latest key frame
	keys    int           // key frames seen this session
	// keyPos are the positions of the latest key frames, to know a decoded
	// key frame; intraKeys counts those decoded as intra pictures. Intra
	// refresh streams flag their recovery points as key frames, but these
	// are P pictures a decode cannot start from: the stream is decoded in
	// full (no_keyframe) once one is seen.
	keyPos       [4]time.Duration
	intraKeys    int
	intraRefresh bool
	// spacing is the distance between the last two key frames, hop that
	// between the last two targets; reordered says packets came out of
	// presentation order (B-frames); maxPos is the furthest position held.
	spacing   time.Duration
	hop       time.Duration
	reordered bool
	maxPos    time.Duration
	// drainedT is the target a drain did not settle (a frame failed to
	// decode): it is not drained again.
	drainedT   time.Duration
	drainedSet bool
	openGOP    bool // leading pictures seen
	lastDts    time.Duration
}

// videoStats are a Source's video decoding counters, shared by its sessions.
type videoStats struct {
	packetsDecoded atomic.Uint64
	fullWindows    [len(FullDecodeReasons)]atomic.Uint64
}

func newVideoDecoder(s *astiav.Stream, opts map[string]string, pick *picker) (*videoDecoder, error) {
	cc, err := openDecoder(s, opts)
	if err != nil {
		return nil, err
	}
	pick.orient = orientationOf(s)
	d := &videoDecoder{stream: s, cc: cc, frame: astiav.AllocFrame(), pick: pick, opts: pick.video}
	if d.gopAware() {
		d.full = fullProbing
		pick.catchUp = d.catchUp
	}
	return d, nil
}

// fullProbing: the first GOPs of a session are decoded in full until two
// key frames have been seen to be intra pictures. Not counted: a full
// decode's cost at the start of every session is no fallback.
const fullProbing = "probing"

func (d *videoDecoder) gopAware() bool {
	return d.opts.pick == FramePickExact || d.opts.pick == FramePickNearestKey
}

func (d *videoDecoder) free() {
	if d.pick.catchUp != nil {
		d.pick.catchUp = nil
	}
	d.buf.clear()
	d.frame.Free()
	d.cc.Free()
}

func (d *videoDecoder) position(ts int64) time.Duration {
	return time.Duration(astiav.RescaleQ(ts, d.stream.TimeBase(), nanos))
}

// decode takes one packet (nil flushes). It returns how many decode errors
// it met; they are not fatal.
func (d *videoDecoder) decode(pkt *astiav.Packet, sink media.Sink) (decodeErrors int, err error) {
	if pkt == nil {
		n, err := d.catchUpErrors(sink)
		m, err2 := d.send(nil, sink)
		return n + m, firstErr(err, err2)
	}
	if !d.gopAware() {
		return d.send(pkt, sink)
	}
	pos, dts := d.packetTimes(pkt)
	key := pkt.Flags().Has(astiav.PacketFlagKey)
	if key && d.opts.alignGrid {
		// Every key frame: the sink places a grid once, at the first key
		// frame it gets after the grid began (a session's start or a gap).
		if g, ok := sink.(media.GridSink); ok {
			g.AlignGrid(pos)
		}
	}
	// Known from the probe on: a frame at or past a target is taken for the
	// picture before the frames presented earlier have all come only when
	// none can come later (startFor).
	if pos < d.maxPos {
		d.reordered = true
	}
	d.maxPos = max(d.maxPos, pos)
	if key {
		n, err := d.atKey(pos, sink)
		decodeErrors += n
		if err != nil {
			return decodeErrors, err
		}
	}
	if d.full != "" {
		n, err := d.sendCounted(pkt, sink)
		return decodeErrors + n, err
	}
	if !key && pos < d.lastKey {
		d.openGOP = true
	}
	if err := d.buf.push(pkt, pos, dts, key); err != nil {
		return decodeErrors, fmt.Errorf("hold video packet: %w", err)
	}
	if k := max(d.buf.lastKey(), 0); d.buf.bytes > d.opts.maxBytes || dts-d.buf.q[k].dts > d.opts.maxDur {
		// The GOP outgrew the buffer: decode what it holds, then everything
		// up to the next key frame.
		n, err := d.goFull(FullGOPTooLong, sink)
		return decodeErrors + n, err
	}
	d.lastDts = dts
	n, err := d.step(sink)
	decodeErrors += n
	if err == nil && d.intraRefresh {
		n, err = d.goFull(FullNoKeyframe, sink)
		decodeErrors += n
		return decodeErrors, err
	}
	if key {
		// Only after the step: the frame nearest a target may be the last
		// of the GOP this key frame ends.
		d.trim()
	}
	sink.VideoAt(dts)
	return decodeErrors, err
}

// packetTimes are a placed packet's presentation and decode positions.
func (d *videoDecoder) packetTimes(pkt *astiav.Packet) (pos, dts time.Duration) {
	p, t := pkt.Pts(), pkt.Dts()
	switch {
	case p == astiav.NoPtsValue && t == astiav.NoPtsValue:
		return d.lastDts, d.lastDts
	case p == astiav.NoPtsValue:
		p = t
	case t == astiav.NoPtsValue:
		t = p
	}
	return d.position(p), d.position(t)
}

// atKey handles a key frame before it is held: it ends a full decode when
// the key frames come often enough, and trims the buffer to what a target
// can still need.
func (d *videoDecoder) atKey(pos time.Duration, sink media.Sink) (int, error) {
	spacing := pos - d.lastKey
	if d.keys > 0 {
		d.spacing = spacing
	}
	d.keys++
	d.lastKey = pos
	copy(d.keyPos[1:], d.keyPos[:])
	d.keyPos[0] = pos
	if d.full != "" {
		// Decided per GOP from the spacing seen: a GOP that did not fit
		// the buffer is taken for the next one too.
		long := d.keys > 1 && spacing > d.opts.maxDur
		switch {
		case d.intraRefresh:
			d.full = FullNoKeyframe
		case d.intraKeys < 2:
			// Not yet seen that a decode can start at a key frame.
		case d.keys > 1 && d.openGOP && 2*spacing > d.opts.maxDur:
			d.full = FullOpenGOP
		case long:
			d.full = FullGOPTooLong
		default:
			// The decoder got every packet: the key frame follows on.
			d.full = ""
			d.buf.clear()
			d.buf.synced = true
		}
		return 0, nil
	}
	if d.openGOP && 2*spacing > d.opts.maxDur {
		return d.goFull(FullOpenGOP, sink)
	}
	return 0, nil
}

// trim forgets the packets no target can need any more: those before the
// latest key frame, or for an open GOP, whose leading pictures reference
// the GOP before, before the key frame before it. Packets a decode under
// way has yet to send are kept until the next key frame.
func (d *videoDecoder) trim() {
	keep := d.buf.lastKey()
	if d.openGOP {
		keep = 0
		for i := d.buf.lastKey() - 1; i > 0; i-- {
			if d.buf.q[i].key {
				keep = i
				break
			}
		}
	}
	if d.active && d.buf.next < keep {
		return
	}
	d.buf.dropBefore(keep)
}

// goFull decodes what the buffer holds and switches to a full decode.
func (d *videoDecoder) goFull(reason string, sink media.Sink) (int, error) {
	n, err := d.drain(0, sink)
	d.buf.clear()
	d.full, d.active, d.wanting = reason, false, false
	return n, err
}

// drain sends every held packet from the decoder's place (or from q[from]
// when it has none) on.
func (d *videoDecoder) drain(from int, sink media.Sink) (int, error) {
	if len(d.buf.q) == 0 {
		return 0, nil
	}
	d.buf.seek(min(from, len(d.buf.q)-1))
	errs := 0
	for e := d.buf.take(); e != nil; e = d.buf.take() {
		n, err := d.send(e.pkt, sink)
		errs += n
		if err != nil {
			return errs, err
		}
	}
	return errs, nil
}

// step decodes what the picker needs for its targets from the packets
// held, and returns when the buffer gives no more.
func (d *videoDecoder) step(sink media.Sink) (int, error) {
	errs := 0
	for {
		t := sink.PictureTarget()
		if d.active && t != d.activeT {
			if t > d.activeT {
				d.hop = t - d.activeT
			}
			d.active = false
			if d.keyPick {
				// The frames decoded on the way were not offered: the next
				// exact decode must offer them, so it starts afresh.
				d.keyPick, d.wanting, d.buf.synced = false, false, false
			}
		}
		if !d.active && !d.activate(t) {
			return errs, nil
		}
		e := d.buf.take()
		if e == nil {
			return errs, nil
		}
		n, err := d.send(e.pkt, sink)
		errs += n
		if err != nil {
			return errs, err
		}
		if d.active && sink.PictureTarget() == d.activeT && d.drainable(e) {
			n, err := d.drainDecoder(sink)
			errs += n
			if err != nil {
				return errs, err
			}
		}
	}
}

// drainable says whether, with e sent, the decoder holds every frame the
// target needs, so that draining it now spares the packets that would
// otherwise push them out (a frame thread's delay), and a decode of the
// next target starts at a later key frame anyway: nearest_key's key frame,
// or, without B-frames, the first frame at or past the target.
func (d *videoDecoder) drainable(e *queued) bool {
	if d.drainedSet && d.drainedT == d.activeT {
		return false
	}
	if d.keyPick {
		return e.pos == d.want
	}
	if d.reordered || d.openGOP || e.pos < d.activeT || d.spacing <= 0 || d.hop <= 0 {
		return false
	}
	if delay, err := reorderDelay(d.cc); err != nil || delay > 0 {
		return false
	}
	return d.activeT+d.hop >= d.lastKey+d.spacing
}

// drainDecoder takes every frame out of the decoder and resets it: the
// next decode starts from a key frame.
func (d *videoDecoder) drainDecoder(sink media.Sink) (int, error) {
	d.drainedT, d.drainedSet = d.activeT, true
	n, err := d.send(nil, sink)
	if err != nil {
		return n, err
	}
	if err := flushDecoder(d.cc); err != nil {
		return n, err
	}
	// Should the frames not have settled the target, it is decoded again
	// from its key frame, without a drain.
	d.buf.synced, d.active = false, false
	return n, nil
}

// activate decides whether the packets held settle which frame target
// needs, and if so starts decoding towards it.
func (d *videoDecoder) activate(t time.Duration) bool {
	b := &d.buf
	if len(b.q) == 0 {
		return false
	}
	if d.opts.pick == FramePickNearestKey {
		if k, decided := d.nearestKey(t); decided && k >= 0 {
			d.active, d.activeT, d.wanting, d.keyPick, d.want = true, t, true, true, b.q[k].pos
			if !b.synced || b.next != k {
				b.next, b.synced, b.skipBefore, b.skipping = k, true, b.q[k].pos, true
			}
			return true
		} else if !decided {
			return false
		}
	}
	if _, bi := b.around(t); bi < 0 {
		return false
	}
	d.active, d.activeT = true, t
	b.seek(b.startFor(t, !d.reordered))
	return true
}

// nearestKey picks the key frame for t: the nearest (the later on a tie,
// as the picker does), if within tolerance. decided is false while a
// nearer key frame may still come; k is -1 when none qualifies (decode as
// exact).
func (d *videoDecoder) nearestKey(t time.Duration) (k int, decided bool) {
	b := &d.buf
	ka, kb := b.keysAround(t)
	tol := d.opts.tolerance
	switch {
	case kb >= 0:
		k = kb
		if ka >= 0 && t-b.q[ka].pos < b.q[kb].pos-t {
			k = ka
		}
	case ka >= 0 && d.lastDts-t > t-b.q[ka].pos:
		// Packets to come lie at or past lastDts: no later key frame can be
		// as near.
		k = ka
	case d.lastDts > t+tol:
		return -1, true
	default:
		return -1, false
	}
	if dist := b.q[k].pos - t; dist > tol || dist < -tol {
		return -1, true
	}
	return k, true
}

// catchUp decodes what the picker's current target needs from the packets
// held, at the end of the media or before a gap: no later packet will come
// to settle it.
func (d *videoDecoder) catchUp(sink media.Sink) error {
	_, err := d.catchUpErrors(sink)
	return err
}

func (d *videoDecoder) catchUpErrors(sink media.Sink) (int, error) {
	if !d.gopAware() || d.full != "" || len(d.buf.q) == 0 {
		return 0, nil
	}
	if !d.active {
		t := sink.PictureTarget()
		if a, _ := d.buf.around(t); a < 0 || t-d.buf.q[a].pos > media.PictureTolerance {
			// No frame held is near enough to give the target a picture.
			return 0, nil
		}
		d.active, d.activeT = true, t
		d.buf.seek(d.buf.startFor(t, !d.reordered))
	}
	return d.drain(d.buf.next, sink)
}

// sendCounted decodes pkt in a full decode, counting the pictures chosen
// meanwhile by the reason for the full decode.
func (d *videoDecoder) sendCounted(pkt *astiav.Packet, sink media.Sink) (int, error) {
	if d.opts.stats == nil {
		return d.send(pkt, sink)
	}
	for i, r := range FullDecodeReasons {
		if r == d.full {
			return d.send(pkt, countingSink{sink, &d.opts.stats.fullWindows[i]})
		}
	}
	return d.send(pkt, sink)
}

// countingSink counts the pictures that pass.
type countingSink struct {
	media.Sink
	n *atomic.Uint64
}

func (c countingSink) Picture(p media.Picture) {
	c.n.Add(1)
	c.Sink.Picture(p)
}

// send decodes one packet (nil flushes) and hands the frames that come out
// to the picker.
func (d *videoDecoder) send(pkt *astiav.Packet, sink media.Sink) (decodeErrors int, err error) {
	if pkt != nil && d.opts.stats != nil {
		d.opts.stats.packetsDecoded.Add(1)
	}
	decodeErrors, _, err = receiveFrames(d.cc, d.frame, pkt, func() (bool, error) {
		pts := d.frame.Pts()
		if pts == astiav.NoPtsValue {
			pts = d.frame.PktDts()
		}
		if pts == astiav.NoPtsValue {
			return true, nil
		}
		pos := d.position(pts)
		d.checkKey(pos)
		switch {
		case d.wanting && pos > d.want:
			// The key frame did not come out (a decode error): the frames
			// after it are offered as an exact decode would.
			d.wanting = false
			if err := d.pick.offer(d.frame, pos, sink); err != nil {
				return false, err
			}
		case d.wanting && pos == d.want:
			d.wanting = false
			if err := d.pick.take(d.frame, pos, sink); err != nil {
				return false, err
			}
		case d.wanting:
		default:
			if err := d.pick.offer(d.frame, pos, sink); err != nil {
				return false, err
			}
		}
		sink.VideoAt(pos)
		return false, nil
	})
	return decodeErrors, err
}

// checkKey notes whether the frame at pos, if it is of a key frame, is an
// intra picture; and a key frame the demuxer did not flag.
func (d *videoDecoder) checkKey(pos time.Duration) {
	if d.keys == 0 && d.frame.KeyFrame() && d.full == fullProbing {
		d.full = FullNoKeyframeFlags
	}
	if d.keys == 0 {
		return
	}
	for _, k := range d.keyPos[:min(d.keys, len(d.keyPos))] {
		if k == pos {
			if d.frame.PictureType() == astiav.PictureTypeI {
				d.intraKeys++
			} else {
				d.intraRefresh = true
			}
			return
		}
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
