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
	*audioGraph
	opts arrayOptions
	rate int
	out  [][]float32
}

func newArrayPath(o arrayOptions) *arrayPath {
	return &arrayPath{audioGraph: newAudioGraph("microphone array resampler"), opts: o, out: make([][]float32, len(o.channels))}
}

// ensureGraph builds the graph for f's rate, format and layout; a frame
// that lacks an array channel (the input changed its layout) is an error.
func (a *arrayPath) ensureGraph(f *astiav.Frame, tb astiav.Rational) error {
	layout := layoutArg(f)
	if a.graph != nil && a.key == graphKey(f, layout) {
		return nil
	}
	a.freeGraph()
	if err := a.opts.checkChannels(f.ChannelLayout().NbChannels()); err != nil {
		return err
	}
	a.rate = arrayRate(f.SampleRate())
	// The input's layout, kept so that channel i stays channel i; "4
	// channels" (an unspecified order) is spelt "4c" in a filter's arguments.
	spec := resampleSpec(a.rate) + fmt.Sprintf(",aformat=sample_fmts=fltp:sample_rates=%d:channel_layouts=%s", a.rate, strings.ReplaceAll(layout, " channels", "c"))
	return a.build(f, layout, tb, spec)
}

// drain hands what the graph has to sink, if it takes an array's sound.
func (a *arrayPath) drain(sink media.Sink, eof bool) error {
	as, _ := sink.(media.ArraySink)
	return a.audioGraph.drain(eof, func(pos time.Duration, f *astiav.Frame) {
		if as == nil {
			return
		}
		for i, ch := range a.opts.channels {
			a.out[i] = copyPlaneF32(f, ch, a.out[i])
		}
		as.ArrayAudio(pos, a.rate, a.out)
	})
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
