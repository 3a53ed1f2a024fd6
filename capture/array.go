package capture

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/garssl/garssld/media"
)

// ErrNoChannel: a microphone array's channel is not in the input. No
// reconnect adds it; the configuration (or the device's channel count)
// must change.
var ErrNoChannel = errors.New("no such audio channel")

// arrayOptions select a stream's microphone-array channels; empty Channels
// means the stream has no array.
type arrayOptions struct {
	stream   string // the stream's name, for messages
	channels []int
}

// channelDemuxers are the device inputs whose channel count is chosen when
// they are opened (FFmpeg's "channels" option, 2 unless set).
var channelDemuxers = map[string]bool{"alsa": true, "pulse": true}

// withArrayChannels opens an ALSA or Pulse device with as many channels as
// the array needs, unless the options choose a count themselves.
func withArrayChannels(spec inputSpec, opts map[string]string, a arrayOptions) map[string]string {
	if len(a.channels) == 0 || !channelDemuxers[spec.format] {
		return opts
	}
	if _, set := opts["channels"]; set {
		return opts
	}
	out := make(map[string]string, len(opts)+1)
	for k, v := range opts {
		out[k] = v
	}
	out["channels"] = strconv.Itoa(slices.Max(a.channels) + 1)
	return out
}

// checkChannels refuses array channels an input with n channels lacks.
func (a arrayOptions) checkChannels(n int) error {
	for _, ch := range a.channels {
		if ch < 0 || ch >= n {
			valid := "none"
			if n > 0 {
				valid = fmt.Sprintf("0 to %d", n-1)
			}
			return fmt.Errorf("stream %q: mic_array channel %d: %w: the input has %d audio channel(s) (%s); fix mic_array.channels, or open a device with more channels (audio_options channels)", a.stream, ch, ErrNoChannel, n, valid)
		}
	}
	return nil
}

// arrayRate is the rate the array's sound is kept at: the input's own, or
// SampleRate when that is higher, since direction finding gains little
// above it and the CPU is better spent elsewhere.
func arrayRate(inputRate int) int { return min(inputRate, SampleRate) }

// arrayPath converts decoded frames to planar float at arrayRate, keeping
// every input channel in order, and hands the array's channels to a
// media.ArraySink. It follows the mono graph's timestamps (audioDecoder
// feeds both the same frames), so both land on the same timeline.
type arrayPath struct {
	opts     arrayOptions
	graph    *astiav.FilterGraph
	src      *astiav.FilterContext
	sinkCtx  *astiav.FilterContext
	key      string
	outTB    astiav.Rational
	rate     int
	filtered *astiav.Frame
	out      [][]float32
}

func newArrayPath(o arrayOptions) *arrayPath {
	return &arrayPath{opts: o, filtered: astiav.AllocFrame(), out: make([][]float32, len(o.channels))}
}

func (a *arrayPath) free() {
	a.freeGraph()
	a.filtered.Free()
}

func (a *arrayPath) freeGraph() {
	if a.graph != nil {
		freeGraph(a.graph, a.src, a.sinkCtx)
		a.graph, a.src, a.sinkCtx = nil, nil, nil
	}
	a.key = ""
}

// ensureGraph builds the graph for f's rate, format and layout; a frame
// that lacks an array channel (the input changed its layout) is an error.
func (a *arrayPath) ensureGraph(f *astiav.Frame, tb astiav.Rational) error {
	layout := layoutArg(f)
	key := fmt.Sprintf("%d/%s/%s", f.SampleRate(), f.SampleFormat().Name(), layout)
	if key == a.key {
		return nil
	}
	a.freeGraph()
	if err := a.opts.checkChannels(f.ChannelLayout().NbChannels()); err != nil {
		return err
	}
	rate := arrayRate(f.SampleRate())
	// The input's layout, kept so that channel i stays channel i; "4
	// channels" (an unspecified order) is spelt "4c" in a filter's arguments.
	spec := resampleSpec(rate) + fmt.Sprintf(",aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s", rate, strings.ReplaceAll(layout, " channels", "c"))
	g, src, sinkCtx, err := newAudioGraph(f, layout, tb, spec)
	if err != nil {
		return fmt.Errorf("microphone array: %w", err)
	}
	a.graph, a.src, a.sinkCtx, a.key, a.rate = g, src, sinkCtx, key, rate
	a.outTB = sinkCtx.Inputs()[0].TimeBase()
	return nil
}

func (a *arrayPath) feed(f *astiav.Frame) error {
	if err := a.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return fmt.Errorf("feed microphone array resampler: %w", err)
	}
	return nil
}

// drain hands what the graph has to sink; at end of stream it first
// flushes the resampler's delay line.
func (a *arrayPath) drain(sink media.Sink, eof bool) error {
	if a.graph == nil {
		return nil
	}
	if eof {
		if err := a.src.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil && !errors.Is(err, astiav.ErrEof) {
			return fmt.Errorf("flush microphone array resampler: %w", err)
		}
	}
	as, _ := sink.(media.ArraySink)
	for {
		if err := a.sinkCtx.BuffersinkGetFrame(a.filtered, astiav.NewBuffersinkFlags()); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("read microphone array resampler: %w", err)
		}
		if a.filtered.Pts() != astiav.NoPtsValue && as != nil {
			for i, ch := range a.opts.channels {
				a.out[i] = copyPlaneF32(a.filtered, ch, a.out[i])
			}
			as.ArrayAudio(time.Duration(astiav.RescaleQ(a.filtered.Pts(), a.outTB, nanos)), a.rate, a.out)
		}
		a.filtered.Unref()
	}
}

// ArrayAudio serialises the array's sound like Audio; a sink without
// media.ArraySink does not get it.
func (l lockedSink) ArrayAudio(pos time.Duration, rate int, channels [][]float32) {
	l.s.sinkCall(func(k media.Sink) {
		if as, ok := k.(media.ArraySink); ok {
			as.ArrayAudio(pos, rate, channels)
		}
	})
}
