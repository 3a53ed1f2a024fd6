package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// StreamSnapshot is one stream's counters as capture and windowing keep
// them, read at scrape time. The daemon fills it from their Stats; the
// counters are cumulative since the stream's pipeline started.
type StreamSnapshot struct {
	Stream string
	// State is the stream's current state: connecting, running,
	// reconnecting, paused or stopped.
	State string

	Packets         uint64 // demuxed packets, all inputs
	DecodeErrors    uint64 // packets or frames the decoders rejected
	Reconnects      uint64 // times an input was reopened after a failure
	Stalls          uint64 // times no packet arrived within stall_timeout
	Discontinuities uint64 // timestamp jumps the timeline absorbed
	// VideoPacketsDecoded counts the video packets sent to the decoder;
	// GOP-aware decoding lets the others pass unopened.
	VideoPacketsDecoded uint64
	// FullDecodeWindows counts the windows whose picture came from a full
	// decode, by reason (capture.FullDecodeReasons, a fixed set).
	FullDecodeWindows map[string]uint64
	// Abandoned counts capture sessions that did not stop within the
	// bound after they were told to, and were left behind (blocked in a
	// system call, e.g. opening a FIFO nobody writes to).
	Abandoned uint64

	Windows uint64 // windows windowing cut and handed on
	// Dropped counts windows windowing could not cut, by reason. The keys
	// become label values, so they must come from a fixed set in code.
	Dropped map[string]uint64
	// SilenceFilledSamples counts 16 kHz samples of silence put in for
	// audio gaps.
	SilenceFilledSamples uint64
}

// windowSampleRate is the rate of window audio (design §2), to turn
// SilenceFilledSamples into seconds.
const windowSampleRate = 16000

// streamCollector exports StreamSnapshots and the scheduler's drops.
type streamCollector struct {
	snapshots func() []StreamSnapshot

	mu    sync.Mutex
	drops map[dropKey]uint64 // counted by Metrics.Dropped

	state, packets, decodeErrors, reconnects, stalls, discontinuities,
	abandoned, windowsCut, dropped, silence, videoDecoded, fullDecode *prometheus.Desc
}

type dropKey struct{ stream, reason string }

func newStreamCollector(snapshots func() []StreamSnapshot) *streamCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append([]string{"stream"}, labels...), nil)
	}
	return &streamCollector{
		snapshots:       snapshots,
		drops:           make(map[dropKey]uint64),
		state:           desc("stream_state", "Stream state: 1 for the current state (connecting, running, reconnecting, paused, stopped), 0 for the others.", "state"),
		packets:         desc("capture_packets_total", "Packets demuxed from the stream's inputs."),
		decodeErrors:    desc("capture_decode_errors_total", "Packets or frames of the stream that the decoders rejected."),
		reconnects:      desc("capture_reconnects_total", "Times one of the stream's inputs was reopened after a failure."),
		stalls:          desc("capture_stalls_total", "Times no packet arrived from the stream within its stall_timeout."),
		discontinuities: desc("capture_discontinuities_total", "Timestamp jumps in the stream that the window timeline absorbed."),
		abandoned:       desc("capture_abandoned_total", "Capture sessions of the stream that did not stop within 5 s when told to (stuck in a system call) and were left behind; each holds a thread and its input until the call returns."),
		windowsCut:      desc("windows_cut_total", "Windows cut from the stream and handed to the scheduler."),
		dropped:         desc("windows_dropped_total", "Windows of the stream lost before a result, by reason: cut failures counted by windowing, and the scheduler's drops (stale, too_late, superseded, queue_full, paused, removed, shutdown).", "reason"),
		silence:         desc("audio_silence_filled_seconds_total", "Audio gaps in the stream filled with silence."),
		videoDecoded:    desc("capture_video_packets_decoded_total", "Video packets of the stream sent to the decoder; GOP-aware decoding (frame_pick exact or nearest_key) lets the others pass unopened."),
		fullDecode:      desc("capture_full_decode_windows_total", "Windows of the stream whose picture came from a decode of every frame, by reason: no_keyframe (none yet, or intra refresh), gop_too_long (key frames further apart than the 10 s / 16 MiB packet buffer), no_keyframe_flags (the demuxer flags no key frames), open_gop (two open GOPs do not fit the buffer).", "reason"),
	}
}

func (c *streamCollector) drop(stream, reason string) {
	c.mu.Lock()
	c.drops[dropKey{stream, reason}]++
	c.mu.Unlock()
}

func (c *streamCollector) forget(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.drops {
		if k.stream == stream {
			delete(c.drops, k)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.packets, c.decodeErrors, c.reconnects, c.stalls,
		c.discontinuities, c.abandoned, c.windowsCut, c.dropped, c.silence, c.videoDecoded, c.fullDecode} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	snaps, drops := c.read()

	emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil { // a label value that is not UTF-8: fail the series, not the scrape
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) { emit(d, prometheus.CounterValue, v, labels...) }
	for _, s := range snaps {
		for _, st := range statesWith(s.State) {
			v := 0.0
			if st == s.State {
				v = 1
			}
			emit(c.state, prometheus.GaugeValue, v, s.Stream, st)
		}
		counter(c.packets, float64(s.Packets), s.Stream)
		counter(c.decodeErrors, float64(s.DecodeErrors), s.Stream)
		counter(c.reconnects, float64(s.Reconnects), s.Stream)
		counter(c.stalls, float64(s.Stalls), s.Stream)
		counter(c.discontinuities, float64(s.Discontinuities), s.Stream)
		counter(c.abandoned, float64(s.Abandoned), s.Stream)
		counter(c.windowsCut, float64(s.Windows), s.Stream)
		counter(c.silence, float64(s.SilenceFilledSamples)/windowSampleRate, s.Stream)
		counter(c.videoDecoded, float64(s.VideoPacketsDecoded), s.Stream)
		for reason, n := range s.FullDecodeWindows {
			counter(c.fullDecode, float64(n), s.Stream, reason)
		}
	}
	for k, n := range drops {
		counter(c.dropped, float64(n), k.stream, k.reason)
	}
}

// read returns the streams' snapshots and every window drop: the
// scheduler's and windowing's, summed per stream and reason.
func (c *streamCollector) read() ([]StreamSnapshot, map[dropKey]uint64) {
	var snaps []StreamSnapshot
	if c.snapshots != nil {
		snaps = c.snapshots()
	}
	drops := make(map[dropKey]uint64)
	c.mu.Lock()
	for k, n := range c.drops {
		drops[k] = n
	}
	c.mu.Unlock()
	for _, s := range snaps {
		for reason, n := range s.Dropped {
			drops[dropKey{s.Stream, reason}] += n
		}
	}
	return snaps, drops
}

// StreamDrops returns what garssl_windows_dropped_total says: per stream,
// the windows lost before a result by reason. The live view shows it.
func (m *Metrics) StreamDrops() map[string]map[string]uint64 {
	_, drops := m.streams.read()
	out := make(map[string]map[string]uint64)
	for k, n := range drops {
		if out[k.stream] == nil {
			out[k.stream] = make(map[string]uint64)
		}
		out[k.stream][k.reason] = n
	}
	return out
}

// statesWith is streamStates, plus current when it is not among them, so
// that an unexpected state is shown rather than hidden as all zeros.
func statesWith(current string) []string {
	for _, s := range streamStates {
		if s == current {
			return streamStates
		}
	}
	return append(streamStates[:len(streamStates):len(streamStates)], current)
}
