package capture

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
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
	// errStalled: the watchdog interrupted a read because no packet came.
	errStalled = errors.New("stalled")
)

var registerDevices sync.Once

// nanos is the time base positions are computed in, so that 16 kHz sample
// positions (62.5 µs apart) stay exact.
var nanos = astiav.NewRational(1, int(time.Second))

// role says which media an input contributes to its Source.
type role struct{ video, audio bool }

// input is one opened FFmpeg input and its decoders. It is used by one
// goroutine and freed by close before its input is reopened.
type input struct {
	spec        inputSpec
	fc          *astiav.FormatContext
	opened      bool // avformat_open_input succeeded; on failure it freed fc itself
	interrupter astiav.IOInterrupter
	pkt         *astiav.Packet
	video       *videoDecoder
	audio       *audioDecoder

	origin    int64         // ns on the input's own clock that maps to offset
	originSet bool          //
	offset    time.Duration // timeline position of origin
	end       time.Duration // furthest timeline position delivered so far
}

// inputOptions are what openInput needs besides the spec.
type inputOptions struct {
	demuxer        map[string]string // passed to avformat_open_input
	decoder        map[string]string // passed to every decoder
	role           role
	modelW, modelH int
	// onInterrupter receives the interrupter before the (possibly blocking)
	// open, so a watchdog can break it.
	onInterrupter func(astiav.IOInterrupter)
}

// openInput opens spec and its decoders. On error everything allocated is
// freed already.
func openInput(spec inputSpec, o inputOptions) (in *input, err error) {
	in = &input{spec: spec, fc: astiav.AllocFormatContext()}
	if in.fc == nil {
		return nil, fmt.Errorf("open %s: allocate format context: out of memory", spec)
	}
	defer func() {
		if err != nil {
			in.close()
			in = nil
		}
	}()
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
	for k, v := range o.demuxer {
		if err := dict.Set(k, v, 0); err != nil {
			return in, fmt.Errorf("open %s: option %s: %w", spec, k, err)
		}
	}
	if err := in.fc.OpenInput(spec.url, format, dict); err != nil {
		return in, fmt.Errorf("open %s: %w", spec, err)
	}
	in.opened = true
	if left := dictKeys(dict); len(left) > 0 {
		return in, fmt.Errorf("open %s: the %s demuxer does not know option(s) %v", spec, in.fc.InputFormat().Name(), left)
	}
	if err := in.fc.FindStreamInfo(nil); err != nil {
		return in, fmt.Errorf("open %s: read stream info: %w", spec, err)
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
		if in.video, err = newVideoDecoder(videoStream, o.decoder, o.modelW, o.modelH); err != nil {
			return in, fmt.Errorf("open %s: %w", spec, err)
		}
	}
	if o.role.audio {
		if audioStream == nil {
			return in, fmt.Errorf("open %s: %w: give an input with sound, or a separate audio input (--audio, or audio = \"alsa:hw:1,0\" in the stream block)", spec, ErrNoAudio)
		}
		if in.audio, err = newAudioDecoder(audioStream, audioOnly(o.decoder)); err != nil {
			return in, fmt.Errorf("open %s: %w", spec, err)
		}
	}
	if st := in.fc.StartTime(); st != astiav.NoPtsValue {
		in.origin, in.originSet = astiav.RescaleQ(st, astiav.NewRational(1, astiav.TimeBase), nanos), true
	}
	in.pkt = astiav.AllocPacket()
	return in, nil
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

// pos maps a timestamp of this input to the timeline.
func (in *input) pos(pts int64, tb astiav.Rational) time.Duration {
	ns := astiav.RescaleQ(pts, tb, nanos)
	if !in.originSet {
		in.origin, in.originSet = ns, true
	}
	return time.Duration(ns-in.origin) + in.offset
}

// readStats are what one read loop saw.
type readStats struct {
	packets      uint64
	decodeErrors uint64
	// stopping, when set, is raised before the input is interrupted
	// because its owner stopped it.
	stopping *atomic.Bool
}

// addDecodeErrors counts decode errors, except those after the input was
// stopped on purpose: the interrupt cuts the packet being read short, and
// that is not the stream's fault.
func (s *readStats) addDecodeErrors(n uint64) {
	if s.stopping == nil || !s.stopping.Load() {
		s.decodeErrors += n
	}
}

// maxConsecutiveReadErrors bounds how long a file's demuxer may keep failing
// to resync before the file counts as unreadable.
const maxConsecutiveReadErrors = 64

// run reads and decodes until EOF (returned as io.EOF after the decoders are
// flushed), an interrupt or a read error. lastPacket is stored with the
// arrival time of each packet for the watchdog; onMedia is called once, when
// the first frame was delivered.
func (in *input) run(sink Sink, lastPacket *atomic.Int64, stats *readStats, onMedia func()) error {
	mediaSeen := false
	readErrors := 0
	for {
		err := in.fc.ReadFrame(in.pkt)
		if err != nil {
			if errors.Is(err, astiav.ErrEof) {
				in.flush(sink, stats)
				return io.EOF
			}
			if errors.Is(err, astiav.ErrExit) {
				return errStalled
			}
			if errors.Is(err, astiav.ErrEagain) {
				// Device demuxers (v4l2, alsa) say "try again" between frames.
				time.Sleep(2 * time.Millisecond)
				continue
			}
			readErrors++
			if !in.spec.live && errors.Is(err, astiav.ErrInvaliddata) && readErrors < maxConsecutiveReadErrors {
				stats.addDecodeErrors(1)
				continue
			}
			return fmt.Errorf("read %s: %w", in.spec, err)
		}
		readErrors = 0
		lastPacket.Store(time.Now().UnixNano())
		stats.packets++
		if in.pkt.Flags().Has(astiav.PacketFlagCorrupt) {
			stats.addDecodeErrors(1)
		}
		var decodeErrors int
		switch {
		case in.video != nil && in.pkt.StreamIndex() == in.video.stream.Index():
			decodeErrors, err = in.video.decode(in.pkt, in.pos, sink)
		case in.audio != nil && in.pkt.StreamIndex() == in.audio.stream.Index():
			decodeErrors, err = in.audio.decode(in.pkt, in.pos, sink)
		}
		in.pkt.Unref()
		stats.addDecodeErrors(uint64(decodeErrors))
		if err != nil {
			return fmt.Errorf("decode %s: %w", in.spec, err)
		}
		if !mediaSeen && in.originSet {
			mediaSeen = true
			onMedia()
		}
		in.trackEnd()
	}
}

// flush drains the decoders at end of stream so the last frames and the
// resampler's tail are not lost.
func (in *input) flush(sink Sink, stats *readStats) {
	if in.video != nil {
		n, _ := in.video.decode(nil, in.pos, sink)
		stats.addDecodeErrors(uint64(n))
		if err := in.video.finish(sink); err != nil {
			stats.addDecodeErrors(1)
		}
	}
	if in.audio != nil {
		n, _ := in.audio.decode(nil, in.pos, sink)
		stats.addDecodeErrors(uint64(n))
	}
	in.trackEnd()
}

// trackEnd remembers how far the timeline got, for a looping file to resume
// after it.
func (in *input) trackEnd() {
	if in.audio != nil && in.audio.lastEnd > in.end {
		in.end = in.audio.lastEnd
	}
	if in.video != nil && in.video.lastEnd > in.end {
		in.end = in.video.lastEnd
	}
}
