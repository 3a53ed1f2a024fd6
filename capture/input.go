package capture

import (
	"errors"
	"fmt"
	"github.com/garssl/garssld/media"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/garssl/garssld/internal/filekind"
)

// Errors callers act on: configuration problems that no reconnect fixes.
var (
	// ErrNoVideo: the main input has no decodable video stream.
	ErrNoVideo = errors.New("no video stream")
	// ErrNoAudio: no audio stream and no separate audio input configured.
	ErrNoAudio = errors.New("no audio stream")
	// ErrUnsupported: FFmpeg cannot decode a stream's codec.
	ErrUnsupported = errors.New("unsupported codec")
	// ErrBadInput: a file input could not be opened as media (missing,
	// unreadable, not media). Waiting does not fix it; the user must.
	ErrBadInput = errors.New("unusable input")
	// errInterrupted: a blocking FFmpeg call was interrupted (the watchdog,
	// or the end of the Source's context).
	errInterrupted = errors.New("interrupted")
)

var registerDevices sync.Once

// nanos is the time base positions are computed in, so that 16 kHz sample
// positions (62.5 µs apart) stay exact.
var nanos = astiav.NewRational(1, int(time.Second))

// role says which media an input contributes to its Source.
type role struct{ video, audio bool }

// decoder is a video or audio decoder of one stream: it takes packets on
// the stream timeline (nil flushes) and hands what comes out to a media.Sink.
type decoder interface {
	decode(pkt *astiav.Packet, sink media.Sink) (decodeErrors int, err error)
	free()
}

// input is one opened FFmpeg input and its decoders. It is used by one
// goroutine and freed by close before its input is reopened.
type input struct {
	spec        inputSpec
	fc          *astiav.FormatContext
	opened      bool      // avformat_open_input succeeded; on failure it freed fc itself
	openedAt    time.Time // when it returned: a live input's media began to arrive by then
	interrupter astiav.IOInterrupter
	pkt         *astiav.Packet
	video       *videoDecoder
	audio       *audioDecoder
	streams     map[int]streamInfo // the streams decoded, by index
	packetHook  func(*astiav.Packet)
}

// streamInfo is what the timeline needs of a stream.
type streamInfo struct {
	dec      decoder
	tb       rational
	wrapBits int
}

// inputOptions are what openInput needs besides the spec.
type inputOptions struct {
	demuxer map[string]string // passed to avformat_open_input
	decoder map[string]string // passed to every decoder
	role    role
	pick    *picker // chooses the pictures, for role.video
	// array selects the microphone array's channels, for role.audio.
	array arrayOptions
	// onInterrupter receives the interrupter before the (possibly blocking)
	// open, so a watchdog can break it.
	onInterrupter func(astiav.IOInterrupter)
	packetHook    func(*astiav.Packet) // Config.packetHook
}

// openInput opens spec and its decoders. On error everything allocated is
// freed already.
func openInput(spec inputSpec, o inputOptions) (in *input, err error) {
	in = &input{spec: spec, fc: astiav.AllocFormatContext(), streams: map[int]streamInfo{}, packetHook: o.packetHook}
	if in.fc == nil {
		return nil, fmt.Errorf("open %s: allocate format context: out of memory", spec)
	}
	defer func() {
		if err != nil {
			in.close()
			in = nil
		}
	}()
	if err := refuseBlocking(spec); err != nil {
		return in, err
	}
	in.interrupter = in.fc.SetInterruptCallback()
	if o.onInterrupter != nil {
		o.onInterrupter(in.interrupter)
	}
	var format *astiav.InputFormat
	if spec.format != "" {
		registerDevices.Do(astiav.RegisterAllDevices)
		if format = astiav.FindInputFormat(spec.format); format == nil {
			return in, fmt.Errorf("open %s: this FFmpeg build has no %q input device", spec, spec.format)
		}
	}
	dict := astiav.NewDictionary()
	defer dict.Free()
	if o.role.audio {
		o.demuxer = withArrayChannels(spec, o.demuxer, o.array)
	}
	for k, v := range o.demuxer {
		if err := dict.Set(k, v, 0); err != nil {
			return in, fmt.Errorf("open %s: option %s: %w", spec, k, err)
		}
	}
	if err := in.fc.OpenInput(spec.url, format, dict); err != nil {
		return in, fmt.Errorf("open %s: %w", spec, interrupted(err))
	}
	in.opened, in.openedAt = true, time.Now()
	if left := dictKeys(dict); len(left) > 0 {
		return in, fmt.Errorf("open %s: the %s demuxer does not know option(s) %v", spec, in.fc.InputFormat().Name(), left)
	}
	if err := in.fc.FindStreamInfo(nil); err != nil {
		return in, fmt.Errorf("open %s: read stream info: %w", spec, interrupted(err))
	}
	var videoStream, audioStream *astiav.Stream
	for _, s := range in.fc.Streams() {
		switch s.CodecParameters().MediaType() {
		case astiav.MediaTypeVideo:
			// Cover art in audio files is a one-frame "video" stream.
			if videoStream == nil && s.CodecParameters().Width() > 0 {
				videoStream = s
			}
		case astiav.MediaTypeAudio:
			if audioStream == nil {
				audioStream = s
			}
		}
	}
	if o.role.video {
		if videoStream == nil {
			return in, fmt.Errorf("open %s: %w: garssld needs a camera picture; give an input with video", spec, ErrNoVideo)
		}
		if in.video, err = newVideoDecoder(videoStream, o.decoder, o.pick); err != nil {
			return in, fmt.Errorf("open %s: %w", spec, err)
		}
		if err := in.track(videoStream, in.video); err != nil {
			return in, err
		}
	}
	if o.role.audio {
		if audioStream == nil {
			return in, fmt.Errorf("open %s: %w: give an input with sound, or a separate audio input (--audio, or audio = \"alsa:hw:1,0\" in the stream block)", spec, ErrNoAudio)
		}
		// A stream that does not say its channel count yet is checked on
		// its first frame instead.
		if n := audioStream.CodecParameters().ChannelLayout().NbChannels(); n > 0 {
			if err := o.array.checkChannels(n); err != nil {
				return in, fmt.Errorf("open %s: %w", spec, err)
			}
		}
		if in.audio, err = newAudioDecoder(audioStream, audioOnly(o.decoder), o.array); err != nil {
			return in, fmt.Errorf("open %s: %w", spec, err)
		}
		if err := in.track(audioStream, in.audio); err != nil {
			return in, err
		}
	}
	in.pkt = astiav.AllocPacket()
	return in, nil
}

// refuseBlocking refuses a local file that opening could block on for
// good: a named pipe nobody writes to blocks open(2), which FFmpeg's
// interrupt callback cannot break, and so would hold up every stop. `check`
// refuses these too; this catches a path that became one since (or a
// symlink whose target did). A path that is not there is left to FFmpeg,
// whose error names it.
func refuseBlocking(spec inputSpec) error {
	if spec.path == "" {
		return nil
	}
	fi, err := os.Stat(spec.path)
	if err != nil || !filekind.Blocks(fi.Mode()) {
		return nil
	}
	return fmt.Errorf("open %s: it is %s, not a media file: opening it waits for a writer without end, and no stop could interrupt that; give a media file, a URL or a device", spec, filekind.Of(fi.Mode()))
}

// track registers a decoded stream with what the timeline needs of it.
func (in *input) track(s *astiav.Stream, d decoder) error {
	bits, err := wrapBits(in.fc, s.Index())
	if err != nil {
		return err
	}
	tb := s.TimeBase()
	in.streams[s.Index()] = streamInfo{dec: d, tb: rational{int64(tb.Num()), int64(tb.Den())}, wrapBits: bits}
	return nil
}

// interrupted turns FFmpeg's "immediate exit requested" into errInterrupted.
func interrupted(err error) error {
	if errors.Is(err, astiav.ErrExit) {
		return errInterrupted
	}
	return err
}

// audioOnly drops the video-specific decoder options (skip_frame,
// skip_loop_filter) that would only mislead a reader of an audio decoder's
// options.
func audioOnly(opts map[string]string) map[string]string {
	out := make(map[string]string, len(opts))
	for k, v := range opts {
		if k != "skip_frame" && k != "skip_loop_filter" {
			out[k] = v
		}
	}
	return out
}

// close frees every FFmpeg object of the input. It is safe on a partly
// opened input.
func (in *input) close() {
	if in.video != nil {
		in.video.free()
	}
	if in.audio != nil {
		in.audio.free()
	}
	if in.pkt != nil {
		in.pkt.Free()
	}
	if in.fc != nil {
		if in.opened {
			in.fc.CloseInput() // also frees the context
		}
		in.fc.Free() // unregisters it from go-astiav; a no-op free on NULL
	}
}

// startTime is the input's start time (the smallest first timestamp of its
// streams), in FFmpeg's AV_TIME_BASE.
func (in *input) startTime() (int64, rational) {
	return in.fc.StartTime(), rational{1, int64(astiav.TimeBase)}
}

// readStats are what one read loop saw. The totals, when set, are a
// Source's counters, counted as they happen: a live session runs for
// hours, and its metrics must move while it does.
type readStats struct {
	packets      uint64
	decodeErrors uint64

	totalPackets, totalDecodeErrors *atomic.Uint64
}

func (s *readStats) packet() {
	s.packets++
	if s.totalPackets != nil {
		s.totalPackets.Add(1)
	}
}

func (s *readStats) decodeError(n int) {
	if n == 0 {
		return
	}
	s.decodeErrors += uint64(n)
	if s.totalDecodeErrors != nil {
		s.totalDecodeErrors.Add(uint64(n))
	}
}

// reader is what one read loop places its packets with and reports to.
type reader struct {
	sink media.Sink
	tl   *timeline
	// now is the position of an instant on the stream timeline; nil when
	// there is no clock (a still is not a stream).
	now func(time.Time) time.Duration
	// opened is when avformat_open_input returned. The session's first
	// packet is taken to have arrived then: FFmpeg read it while probing
	// the stream (for up to its analyzeduration), and delivers it only
	// afterwards. (Opening itself waits for the first bytes of a network
	// stream, to recognise its format.)
	opened   time.Time
	loop     bool
	realtime bool
	done     <-chan struct{} // ends a realtime wait
	watch    *watch          // fed with each packet; nil for stills
	placed   func(placement) // nil for stills
	stats    readStats
	started  bool // the session's first packet was placed
}

// countDecodeErrors counts n decode errors, unless the input is being
// stopped on purpose: the interrupt cuts the packet being read short, and
// that is not the stream's fault. (A still's reader has no done channel.)
func (r *reader) countDecodeErrors(n int) {
	select {
	case <-r.done:
		return
	default:
		r.stats.decodeError(n)
	}
}

// maxConsecutiveReadErrors bounds how long a file's demuxer may keep failing
// to resync before the file counts as unreadable.
const maxConsecutiveReadErrors = 64

// read reads, places and decodes until EOF (returned as io.EOF after the
// decoders are flushed), an interrupt or a read error. A looped input starts
// again at EOF instead.
func (in *input) read(r *reader) error {
	readErrors := 0
	for {
		// Reads of a local file do not heed FFmpeg's interrupt: a looped
		// file never ends, and a file read in real time would be read to
		// its end at full speed once the realtime waits stop.
		select {
		case <-r.done:
			return errInterrupted
		default:
		}
		err := in.fc.ReadFrame(in.pkt)
		arrived := time.Now()
		if err != nil {
			switch {
			case errors.Is(err, astiav.ErrEof) && r.loop:
				if err := in.fc.SeekFrame(-1, max(0, in.fc.StartTime()), astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
					return fmt.Errorf("loop %s: seek to its start: %w", in.spec, err)
				}
				r.tl.reopen()
				continue
			case errors.Is(err, astiav.ErrEof):
				in.flush(r)
				return io.EOF
			case errors.Is(err, astiav.ErrExit):
				return errInterrupted
			case errors.Is(err, astiav.ErrEagain):
				// Device demuxers (v4l2, alsa) say "try again" between frames.
				time.Sleep(2 * time.Millisecond)
				continue
			}
			readErrors++
			if !in.spec.live && errors.Is(err, astiav.ErrInvaliddata) && readErrors < maxConsecutiveReadErrors {
				r.countDecodeErrors(1)
				continue
			}
			return fmt.Errorf("read %s: %w", in.spec, err)
		}
		readErrors = 0
		if in.packetHook != nil {
			in.packetHook(in.pkt)
		}
		r.watch.packet(arrived)
		r.stats.packet()
		if in.pkt.Flags().Has(astiav.PacketFlagCorrupt) {
			r.countDecodeErrors(1)
		}
		st, ok := in.streams[in.pkt.StreamIndex()]
		if !ok {
			in.pkt.Unref()
			continue
		}
		r.place(in.pkt, st, arrived)
		if in.audio != nil {
			in.audio.rate = r.tl.base.rate
		}
		decodeErrors, err := st.dec.decode(in.pkt, r.sink)
		in.pkt.Unref()
		r.countDecodeErrors(decodeErrors)
		if err != nil {
			return fmt.Errorf("decode %s: %w", in.spec, err)
		}
	}
}

// place puts a packet on the stream timeline, rewriting its timestamps, and
// holds it back until its time when reading in real time.
func (r *reader) place(pkt *astiav.Packet, st streamInfo, arrived time.Time) {
	s := stamp{stream: pkt.StreamIndex(), dts: pkt.Dts(), pts: pkt.Pts(), dur: pkt.Duration(), tb: st.tb, wrapBits: st.wrapBits}
	if r.now != nil {
		if !r.started && r.opened.Before(arrived) {
			arrived = r.opened
		}
		s.arrival = r.now(arrived)
	}
	r.started = true
	p, ok := r.tl.place(s)
	if !ok {
		return
	}
	pkt.SetDts(p.dts)
	pkt.SetPts(p.pts)
	if r.placed != nil {
		r.placed(p)
	}
	if r.realtime && r.now != nil {
		if wait := p.at - r.now(time.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.done:
				t.Stop()
			}
		}
	}
}

// flush drains the decoders at end of stream so the last frames and the
// resampler's tail are not lost. At the end of a file the held frame is the
// nearest there will be; a live input's next session may bring a nearer one.
func (in *input) flush(r *reader) {
	if in.video != nil {
		n, _ := in.video.decode(nil, r.sink)
		r.countDecodeErrors(n)
		if !in.spec.live {
			if err := in.video.pick.finish(r.sink); err != nil {
				r.countDecodeErrors(1)
			}
		}
	}
	if in.audio != nil {
		n, _ := in.audio.decode(nil, r.sink)
		r.countDecodeErrors(n)
	}
}
