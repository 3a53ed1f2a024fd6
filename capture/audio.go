package capture

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"
)

// SampleRate is the rate of every sample a Source delivers: what
// Qwen2.5-Omni's audio encoder takes.
const SampleRate = 16000

// audioDecoder decodes one audio stream and converts it to 16 kHz mono s16
// through an abuffer → aresample → aformat → abuffersink graph. The graph is
// rebuilt when the decoded rate, format or layout changes mid-stream.
type audioDecoder struct {
	stream   *astiav.Stream
	cc       *astiav.CodecContext
	frame    *astiav.Frame
	filtered *astiav.Frame

	graph    *astiav.FilterGraph
	src      *astiav.FilterContext
	sinkCtx  *astiav.FilterContext
	graphKey string
	outTB    astiav.Rational

	samples []int16
	lastEnd time.Duration // timeline position just after the last sample delivered
}

func newAudioDecoder(s *astiav.Stream, opts map[string]string) (*audioDecoder, error) {
	cc, err := openDecoder(s, opts)
	if err != nil {
		return nil, err
	}
	return &audioDecoder{stream: s, cc: cc, frame: astiav.AllocFrame(), filtered: astiav.AllocFrame()}, nil
}

func (d *audioDecoder) free() {
	d.freeGraph()
	d.frame.Free()
	d.filtered.Free()
	d.cc.Free()
}

func (d *audioDecoder) freeGraph() {
	if d.graph != nil {
		freeGraph(d.graph, d.src, d.sinkCtx)
		d.graph, d.src, d.sinkCtx = nil, nil, nil
	}
	d.graphKey = ""
}

// decode sends one packet (nil flushes), converts what comes out and hands
// the samples to the sink. Decode errors are counted, not fatal.
func (d *audioDecoder) decode(pkt *astiav.Packet, toPos func(pts int64, tb astiav.Rational) time.Duration, sink Sink) (decodeErrors int, err error) {
	if err := d.cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
		decodeErrors++
	}
	for {
		if err := d.cc.ReceiveFrame(d.frame); err != nil {
			if errors.Is(err, astiav.ErrEagain) {
				return decodeErrors, nil
			}
			if errors.Is(err, astiav.ErrEof) {
				return decodeErrors, d.drain(toPos, sink, true)
			}
			return decodeErrors + 1, nil
		}
		if d.frame.Pts() == astiav.NoPtsValue {
			// Without a timestamp the samples cannot be placed; a gap of
			// silence is better than misplaced sound.
			d.frame.Unref()
			decodeErrors++
			continue
		}
		if frameDamaged(d.frame) {
			decodeErrors++
		}
		err := d.filter(d.frame, toPos, sink)
		d.frame.Unref()
		if err != nil {
			return decodeErrors, err
		}
	}
}

func (d *audioDecoder) filter(f *astiav.Frame, toPos func(int64, astiav.Rational) time.Duration, sink Sink) error {
	if err := d.ensureGraph(f); err != nil {
		return err
	}
	if err := d.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return fmt.Errorf("feed audio resampler: %w", err)
	}
	return d.drain(toPos, sink, false)
}

// drain pulls converted frames out of the graph; at end of stream it first
// flushes the resampler's delay line.
func (d *audioDecoder) drain(toPos func(int64, astiav.Rational) time.Duration, sink Sink, eof bool) error {
	if d.graph == nil {
		return nil
	}
	if eof {
		if err := d.src.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil && !errors.Is(err, astiav.ErrEof) {
			return fmt.Errorf("flush audio resampler: %w", err)
		}
	}
	for {
		if err := d.sinkCtx.BuffersinkGetFrame(d.filtered, astiav.NewBuffersinkFlags()); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("read audio resampler: %w", err)
		}
		if d.filtered.Pts() != astiav.NoPtsValue {
			d.samples = copyMonoS16(d.filtered, d.samples)
			pos := toPos(d.filtered.Pts(), d.outTB)
			sink.Audio(pos, d.samples)
			d.lastEnd = pos + time.Duration(len(d.samples))*time.Second/SampleRate
		}
		d.filtered.Unref()
	}
}

// ensureGraph builds the conversion graph for f's rate, format and layout.
func (d *audioDecoder) ensureGraph(f *astiav.Frame) error {
	layout := f.ChannelLayout()
	layoutArg := layout.String()
	if !layout.Valid() || layoutArg == "" {
		// Unspecified channel order (some WAV and raw device inputs): pass
		// the count; downmixing to mono does not need the order.
		layoutArg = strconv.Itoa(layout.NbChannels()) + "c"
		if layout.NbChannels() <= 0 {
			layoutArg = "mono"
		}
	}
	key := fmt.Sprintf("%d/%s/%s", f.SampleRate(), f.SampleFormat().Name(), layoutArg)
	if key == d.graphKey {
		return nil
	}
	if d.graph != nil {
		// A format change mid-stream: what the old graph still holds is a
		// few milliseconds, dropped rather than mixed with the new format.
		d.freeGraph()
	}
	g := astiav.AllocFilterGraph()
	if g == nil {
		return errors.New("allocate audio filter graph: out of memory")
	}
	var src, sinkCtx *astiav.FilterContext
	fail := func(what string, err error) error {
		freeGraph(g, src, sinkCtx)
		return fmt.Errorf("audio resampler (%s Hz %s %s): %s: %w", strconv.Itoa(f.SampleRate()), f.SampleFormat().Name(), layoutArg, what, err)
	}
	tb := d.stream.TimeBase()
	var err error
	src, err = g.NewFilterContext(astiav.FindFilterByName("abuffer"), "in", astiav.FilterArgs{
		"channel_layout": layoutArg,
		"sample_fmt":     f.SampleFormat().Name(),
		"sample_rate":    strconv.Itoa(f.SampleRate()),
		"time_base":      tb.String(),
	})
	if err != nil {
		return fail("create abuffer", err)
	}
	sinkCtx, err = g.NewFilterContext(astiav.FindFilterByName("abuffersink"), "out", nil)
	if err != nil {
		return fail("create abuffersink", err)
	}
	outputs, inputs := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	defer outputs.Free()
	defer inputs.Free()
	outputs.SetName("in")
	outputs.SetFilterContext(src)
	outputs.SetPadIdx(0)
	outputs.SetNext(nil)
	inputs.SetName("out")
	inputs.SetFilterContext(sinkCtx)
	inputs.SetPadIdx(0)
	inputs.SetNext(nil)
	// async=1 lets the resampler stretch or pad by up to a sample per
	// second to follow the timestamps, so small clock drift does not show up
	// as gaps; larger jumps are left to the windowing's gap filling.
	spec := fmt.Sprintf("aresample=%d:async=1,aformat=sample_fmts=s16:sample_rates=%d:channel_layouts=mono", SampleRate, SampleRate)
	if err := g.Parse(spec, inputs, outputs); err != nil {
		return fail("parse "+spec, err)
	}
	if err := g.Configure(); err != nil {
		return fail("configure", err)
	}
	d.graph, d.src, d.sinkCtx, d.graphKey = g, src, sinkCtx, key
	d.outTB = sinkCtx.Inputs()[0].TimeBase()
	return nil
}

// freeGraph frees the filter contexts go-astiav registered (so its registry
// does not grow across reconnects) and then the graph with the filters it
// created itself.
func freeGraph(g *astiav.FilterGraph, contexts ...*astiav.FilterContext) {
	for _, c := range contexts {
		if c != nil {
			c.Free()
		}
	}
	g.Free()
}
