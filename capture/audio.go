package capture

import (
	"errors"
	"fmt"
	"github.com/garssl/garssld/media"
	"math"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"
)

// SampleRate is the rate of every sample a Source delivers: what
// Qwen2.5-Omni's audio encoder takes.
const SampleRate = 16000

// resamplerMaxStretch is the largest rate correction the resampler applies:
// above the drift the timeline adopts (driftMax), so it can also catch up
// on what accumulated before the drift was measured.
const resamplerMaxStretch = 2 * driftMax

// audioDecoder decodes one audio stream and converts it to 16 kHz mono s16
// through an abuffer → aresample → aformat → abuffersink graph. The graph is
// rebuilt when the decoded rate, format or layout changes mid-stream, and
// after a gap.
type audioDecoder struct {
	stream *astiav.Stream
	cc     *astiav.CodecContext
	frame  *astiav.Frame
	mono   *audioGraph

	samples []int16
	// array, when the stream has a microphone array, keeps the selected
	// channels at the input's rate through a second graph fed the same
	// frames with the same timestamps, so both outputs share the timeline.
	array *arrayPath
	// rate is how many timeline seconds one second of the input's samples
	// takes: 1 + the input clock's measured drift.
	rate float64
	// next is where, on the stream timeline, the samples fed so far end
	// (ns); valid while the graph is.
	next float64
}

func newAudioDecoder(s *astiav.Stream, opts map[string]string, array arrayOptions) (*audioDecoder, error) {
	cc, err := openDecoder(s, opts)
	if err != nil {
		return nil, err
	}
	d := &audioDecoder{stream: s, cc: cc, frame: astiav.AllocFrame(), mono: newAudioGraph("audio resampler"), rate: 1}
	if len(array.channels) > 0 {
		d.array = newArrayPath(array)
	}
	return d, nil
}

func (d *audioDecoder) free() {
	d.mono.free()
	if d.array != nil {
		d.array.free()
	}
	d.frame.Free()
	d.cc.Free()
}

// freeGraph drops both graphs: a gap or a format change starts afresh.
func (d *audioDecoder) freeGraph() {
	d.mono.freeGraph()
	if d.array != nil {
		d.array.freeGraph()
	}
}

// decode sends one packet (nil flushes), converts what comes out and hands
// the samples to the sink. Decode errors are counted, not fatal.
func (d *audioDecoder) decode(pkt *astiav.Packet, sink media.Sink) (decodeErrors int, err error) {
	decodeErrors, eof, err := receiveFrames(d.cc, d.frame, pkt, func() (bool, error) {
		if d.frame.Pts() == astiav.NoPtsValue {
			// Without a timestamp the samples cannot be placed; a gap of
			// silence is better than misplaced sound.
			return true, nil
		}
		return false, d.filter(d.frame, sink)
	})
	if eof && err == nil {
		err = d.drain(sink, true)
	}
	return decodeErrors, err
}

// filter feeds one decoded frame to the resampler. Within media.AudioJitter of
// where the samples so far end, the frame is taken to follow on: the
// resampler sees a timestamp that advances with the samples at the input
// clock's rate and stretches or squeezes them to match (its soft
// compensation), so a drifting clock is followed smoothly and jittery
// timestamps are not. Beyond media.AudioJitter the frame starts a new graph: the
// resampler never fills a gap (the windowing does, and counts it) and never
// stretches across one.
func (d *audioDecoder) filter(f *astiav.Frame, sink media.Sink) error {
	tb := d.stream.TimeBase()
	at := float64(astiav.RescaleQ(f.Pts(), tb, nanos))
	if d.mono.graph != nil {
		if dev := time.Duration(at - d.next); dev > media.AudioJitter || dev < -media.AudioJitter {
			if err := d.drain(sink, true); err != nil {
				return err
			}
			d.freeGraph()
		} else {
			at = d.next
			f.SetPts(astiav.RescaleQ(int64(math.Round(at)), nanos, tb))
		}
	}
	if err := d.ensureGraph(f); err != nil {
		return err
	}
	if d.array != nil {
		if err := d.array.ensureGraph(f, d.stream.TimeBase()); err != nil {
			return err
		}
	}
	d.next = at + float64(f.NbSamples())*float64(time.Second)/float64(f.SampleRate())*d.rate
	if err := d.mono.add(f); err != nil {
		return err
	}
	if d.array != nil {
		if err := d.array.add(f); err != nil {
			return err
		}
	}
	return d.drain(sink, false)
}

// drain pulls converted frames out of the graph; at end of stream it first
// flushes the resampler's delay line.
func (d *audioDecoder) drain(sink media.Sink, eof bool) error {
	if d.array != nil {
		// First, so that the array's sound of a stretch is buffered by the
		// time the mono sound closes the window it belongs to.
		if err := d.array.drain(sink, eof); err != nil {
			return err
		}
	}
	return d.mono.drain(eof, func(pos time.Duration, f *astiav.Frame) {
		d.samples = copyMonoS16(f, d.samples)
		sink.Audio(pos, d.samples)
	})
}

// ensureGraph builds the conversion graph for f's rate, format and layout.
func (d *audioDecoder) ensureGraph(f *astiav.Frame) error {
	layoutArg := layoutArg(f)
	if d.mono.graph != nil && d.mono.key == graphKey(f, layoutArg) {
		return nil
	}
	// A format change mid-stream: what the old graphs still hold is a few
	// milliseconds, dropped rather than mixed with the new format.
	d.freeGraph()
	spec := resampleSpec(SampleRate) + fmt.Sprintf(",aformat=sample_fmts=s16:sample_rates=%d:channel_layouts=mono", SampleRate)
	return d.mono.build(f, layoutArg, d.stream.TimeBase(), spec)
}

// graphKey says which frames a graph was built for.
func graphKey(f *astiav.Frame, layoutArg string) string {
	return fmt.Sprintf("%d/%s/%s", f.SampleRate(), f.SampleFormat().Name(), layoutArg)
}

// audioGraph is one abuffer → filters → abuffersink graph and the frame its
// output is read into.
type audioGraph struct {
	what     string // names it in errors
	graph    *astiav.FilterGraph
	src      *astiav.FilterContext
	sinkCtx  *astiav.FilterContext
	key      string // graphKey of the frames it was built for
	outTB    astiav.Rational
	filtered *astiav.Frame
}

func newAudioGraph(what string) *audioGraph {
	return &audioGraph{what: what, filtered: astiav.AllocFrame()}
}

func (g *audioGraph) free() {
	g.freeGraph()
	g.filtered.Free()
}

func (g *audioGraph) freeGraph() {
	if g.graph != nil {
		freeGraph(g.graph, g.src, g.sinkCtx)
		g.graph, g.src, g.sinkCtx = nil, nil, nil
	}
	g.key = ""
}

// build replaces the graph with abuffer → spec → abuffersink for frames
// like f.
func (g *audioGraph) build(f *astiav.Frame, layoutArg string, tb astiav.Rational, spec string) error {
	g.freeGraph()
	graph, src, sinkCtx, err := buildAudioGraph(f, layoutArg, tb, spec)
	if err != nil {
		return fmt.Errorf("%s %w", g.what, err)
	}
	g.graph, g.src, g.sinkCtx, g.key = graph, src, sinkCtx, graphKey(f, layoutArg)
	g.outTB = sinkCtx.Inputs()[0].TimeBase()
	return nil
}

func (g *audioGraph) add(f *astiav.Frame) error {
	if err := g.src.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return fmt.Errorf("feed %s: %w", g.what, err)
	}
	return nil
}

// drain hands each converted frame and its timeline position to each; at
// end of stream it first flushes the resampler's delay line.
func (g *audioGraph) drain(eof bool, each func(pos time.Duration, f *astiav.Frame)) error {
	if g.graph == nil {
		return nil
	}
	if eof {
		if err := g.src.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil && !errors.Is(err, astiav.ErrEof) {
			return fmt.Errorf("flush %s: %w", g.what, err)
		}
	}
	for {
		if err := g.sinkCtx.BuffersinkGetFrame(g.filtered, astiav.NewBuffersinkFlags()); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("read %s: %w", g.what, err)
		}
		if g.filtered.Pts() != astiav.NoPtsValue {
			each(time.Duration(astiav.RescaleQ(g.filtered.Pts(), g.outTB, nanos)), g.filtered)
		}
		g.filtered.Unref()
	}
}

// layoutArg is abuffer's channel_layout for f.
func layoutArg(f *astiav.Frame) string {
	layout := f.ChannelLayout()
	arg := layout.String()
	if !layout.Valid() || arg == "" {
		// Unspecified channel order (some WAV and raw device inputs): pass
		// the count; downmixing to mono does not need the order, and the
		// array's channels are taken by index.
		arg = strconv.Itoa(layout.NbChannels()) + "c"
		if layout.NbChannels() <= 0 {
			arg = "mono"
		}
	}
	return arg
}

// resampleSpec is the aresample filter both outputs use, converting to rate
// with soft compensation only (see filter): stretch or squeeze by up to
// resamplerMaxStretch to follow the timestamps once they are more than a
// millisecond off; never pad or trim (min_hard_comp out of reach).
func resampleSpec(rate int) string {
	return fmt.Sprintf("aresample=%d:flags=res:min_comp=0.001:min_hard_comp=100000:max_soft_comp=%g", rate, resamplerMaxStretch)
}

// buildAudioGraph builds abuffer → spec → abuffersink for frames like f.
func buildAudioGraph(f *astiav.Frame, layoutArg string, tb astiav.Rational, spec string) (*astiav.FilterGraph, *astiav.FilterContext, *astiav.FilterContext, error) {
	g := astiav.AllocFilterGraph()
	if g == nil {
		return nil, nil, nil, errors.New("allocate audio filter graph: out of memory")
	}
	var src, sinkCtx *astiav.FilterContext
	fail := func(what string, err error) (*astiav.FilterGraph, *astiav.FilterContext, *astiav.FilterContext, error) {
		freeGraph(g, src, sinkCtx)
		return nil, nil, nil, fmt.Errorf("(%s Hz %s %s): %s: %w", strconv.Itoa(f.SampleRate()), f.SampleFormat().Name(), layoutArg, what, err)
	}
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
	if err := g.Parse(spec, inputs, outputs); err != nil {
		return fail("parse "+spec, err)
	}
	if err := g.Configure(); err != nil {
		return fail("configure", err)
	}
	return g, src, sinkCtx, nil
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
