package metrics

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "garssl"

// LatencyBuckets are the upper bounds, in seconds, of the histograms of
// model and GAR latencies. A warm single request on a GPU answers in about
// 50 ms; a whole window on a busy server, or a timed-out request, takes up
// to the 30 s window deadline.
var LatencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30}

// AgeBuckets are the upper bounds, in seconds, of the result-age histogram:
// model latency plus queueing, up to stale_after (10 s by default, and
// configurable) and past it for the rare window that overruns.
var AgeBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60}

// Gate decisions reported to Gate.
const (
	GateRefined = "refined"
	GateSkipped = "skipped"
)

// streamStates are the states a stream reports in garssl_stream_state, one
// 1/0 series each (design §5's state topic).
var streamStates = []string{"connecting", "running", "reconnecting", "paused", "stopped"}

// breakerStates are the mllm breaker states, one 1/0 series each.
var breakerStates = []string{"closed", "half-open", "open"}

// The publisher's label values, initialised to zero so that rate() and
// alerts see every series from the first scrape.
var (
	mqttKinds          = []string{"detection", "state", "status", "event", "tracks"}
	mqttDropReasons    = []string{"max_pending", "expired", "store_error", "publish_error", "shutdown", "too_large"}
	mqttCommandResults = []string{"received", "ignored_retained", "malformed", "unknown_stream"}
)

// Options are what New needs besides the registry.
type Options struct {
	// Version is garssld's version, exported in garssl_build_info.
	Version string
	// FFmpeg names the linked FFmpeg libraries, e.g. "libavcodec 59.37.100";
	// optional, exported in garssl_build_info.
	FFmpeg string
	// Streams returns the current streams' counters; called at every
	// scrape, from the scraping goroutine, so it must be quick and safe for
	// concurrent use. Nil exports no stream counters.
	Streams func() []StreamSnapshot
	// Now is the wall clock for garssl_last_result_timestamp_seconds;
	// time.Now when nil.
	Now func() time.Time
}

// Metrics holds every garssld metric family. Create it with New.
type Metrics struct {
	now func() time.Time

	windows        *prometheus.CounterVec
	windowDuration *prometheus.HistogramVec
	stageDuration  *prometheus.HistogramVec
	gate           *prometheus.CounterVec
	queued         *prometheus.GaugeVec
	resultAge      *prometheus.HistogramVec
	lastResult     *prometheus.GaugeVec
	tracksActive   *prometheus.GaugeVec
	trackEvents    *prometheus.CounterVec
	doaWindows     *prometheus.CounterVec
	doaHints       *prometheus.CounterVec

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	breaker         *prometheus.GaugeVec

	mqtt *MQTT
	view *View

	streams *streamCollector

	// modelMu orders the model clients' observations with UseModel's
	// deletions, so that a deleted series is not made again by a request
	// that was under way.
	modelMu sync.RWMutex
	model   *Model // the current model client's; nil before the first

	// streamMu orders the per-stream observations with ForgetStream, for
	// the same reason; forgotten holds the streams a reload removed, whose
	// last windows may still end.
	streamMu  sync.RWMutex
	forgotten map[string]bool
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var b builder
	m := &Metrics{
		now: opts.Now,
		windows: b.counterVec("windows_total",
			"Windows that went through the GAR loop or its shortcut and were handed to the publisher, by stream and outcome (the payload status: ok, silent, mllm_unavailable, invalid_model_output).",
			"stream", "outcome"),
		windowDuration: b.histogramVec("gar_window_duration_seconds",
			"Time the GAR loop took for one window that reached the model, all stages, by stream and outcome: published (any status) or dropped (cut or stale before a result, not published).",
			LatencyBuckets, "stream", "outcome"),
		stageDuration: b.histogramVec("gar_stage_duration_seconds",
			"Time one GAR stage (locate, audio, analysis, refine) took within a window, retries included.",
			LatencyBuckets, "stage"),
		gate: b.counterVec("gar_gate_decisions_total",
			"Gating decisions per source: refined, or refinement skipped because the analysis trials agreed (paper Eq. 10).",
			"decision"),
		queued: b.gaugeVec("queued_windows",
			"Windows waiting for the model in the stream's bounded queue.",
			"stream"),
		resultAge: b.histogramVec("result_age_seconds",
			"Age of a result when it was published: publish time minus the wall-clock end of its window, by stream.",
			AgeBuckets, "stream"),
		lastResult: b.gaugeVec("last_result_timestamp_seconds",
			"Unix time at which the stream's latest result (any status) was published.",
			"stream"),
		requests: b.counterVec("mllm_requests_total",
			"Model server requests by endpoint, GAR stage and result; result breaker_open (endpoint empty) counts requests refused because every breaker was open.",
			"endpoint", "stage", "result"),
		requestDuration: b.histogramVec("mllm_request_duration_seconds",
			"Duration of model server requests that were sent, whatever their result, by endpoint and GAR stage.",
			LatencyBuckets, "endpoint", "stage"),
		breaker: b.gaugeVec("mllm_breaker_state",
			"Circuit breaker state per model endpoint: 1 for the current state (closed, half-open, open), 0 for the others.",
			"endpoint", "state"),
		tracksActive: b.gaugeVec("tracks_active",
			"Confirmed tracks of sound sources open in the stream (the length of its retained <stream>/tracks list).",
			"stream"),
		trackEvents: b.counterVec("track_events_total",
			"Track events of the stream handed to the publisher, by type (new, update, end).",
			"stream", "type"),
		doaWindows: b.counterVec("doa_windows_total",
			"Windows of streams with a mic_array whose direction of arrival was estimated, by outcome: flat (no direction, published as null), weak (under the confidence threshold), confident (in the picture, or no camera), outside_fov (confident, outside the camera's field of view), error (the array audio could not be used).",
			"stream", "outcome"),
		doaHints: b.counterVec("doa_hint_locates_total",
			"Locate stages run again with a direction hint because a confident direction of arrival disagreed with the box, by result: moved (another box), kept (the same box), failed (no usable answer; the first box stands).",
			"stream", "result"),
		mqtt:      newMQTT(&b),
		view:      newView(&b),
		streams:   newStreamCollector(opts.Streams),
		forgotten: map[string]bool{},
	}

	buildInfo := b.gaugeVec("build_info",
		"Always 1; the labels name the garssld version, the Go version and the linked FFmpeg libraries.",
		"version", "goversion", "ffmpeg")
	buildInfo.WithLabelValues(opts.Version, runtime.Version(), opts.FFmpeg).Set(1)

	for _, d := range []string{GateRefined, GateSkipped} {
		m.gate.WithLabelValues(d)
	}

	for _, c := range append(b.made, m.streams,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// builder makes garssl_ families and remembers each, so that New registers
// every family it made, whichever file declares it.
type builder struct{ made []prometheus.Collector }

func (b *builder) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	b.made = append(b.made, c)
	return c
}

func (b *builder) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	b.made = append(b.made, g)
	return g
}

func (b *builder) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	b.made = append(b.made, c)
	return c
}

func (b *builder) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
	b.made = append(b.made, g)
	return g
}

func (b *builder) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	b.made = append(b.made, h)
	return h
}

// WindowDone counts one window handed to the publisher with its outcome
// (the payload status).
func (m *Metrics) WindowDone(stream, outcome string) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if m.forgotten[stream] {
		return
	}
	m.windows.WithLabelValues(stream, outcome).Inc()
}

// WindowAnalysed records how long the GAR loop of a window that reached the
// model took, with its outcome: published or dropped. Slow windows that are
// cut and dropped count too, so that the histogram shows an overload.
func (m *Metrics) WindowAnalysed(stream, outcome string, d time.Duration) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if m.forgotten[stream] {
		return
	}
	m.windowDuration.WithLabelValues(stream, outcome).Observe(d.Seconds())
}

// Dropped counts one window of stream dropped before the GAR loop, e.g.
// reason "stale" or "queue_full". It shares garssl_windows_dropped_total
// with the drops windowing counts itself (StreamSnapshot.Dropped).
func (m *Metrics) Dropped(stream, reason string) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.streams.drop(stream, reason)
	}
}

// QueueDepth reports how many windows of stream wait for the model.
func (m *Metrics) QueueDepth(stream string, n int) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.queued.WithLabelValues(stream).Set(float64(n))
	}
}

// AgeAtPublish records a result's age when it was published (publish time
// minus its window's wall-clock end) and marks the stream's latest result.
func (m *Metrics) AgeAtPublish(stream string, d time.Duration) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if m.forgotten[stream] {
		return
	}
	m.resultAge.WithLabelValues(stream).Observe(d.Seconds())
	m.lastResult.WithLabelValues(stream).Set(float64(m.now().UnixNano()) / 1e9)
}

// Tracks reports the confirmed tracks open in stream.
func (m *Metrics) Tracks(stream string, n int) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.tracksActive.WithLabelValues(stream).Set(float64(n))
	}
}

// TrackEvent counts one track event of stream; typ is new, update or end.
func (m *Metrics) TrackEvent(stream, typ string) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.trackEvents.WithLabelValues(stream, typ).Inc()
	}
}

// DoAWindow counts one window's direction finding with its outcome
// (gar.DoAFlat, DoAWeak, DoAConfident, DoAOutsideFOV, DoAError).
func (m *Metrics) DoAWindow(stream, outcome string) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.doaWindows.WithLabelValues(stream, outcome).Inc()
	}
}

// DoAHint counts one locate run again with a direction hint, with its
// result (gar.HintMoved, HintKept, HintFailed).
func (m *Metrics) DoAHint(stream, result string) {
	m.streamMu.RLock()
	defer m.streamMu.RUnlock()
	if !m.forgotten[stream] {
		m.doaHints.WithLabelValues(stream, result).Inc()
	}
}

// StageLatency records how long one GAR stage took within a window.
func (m *Metrics) StageLatency(stage string, d time.Duration) {
	m.stageDuration.WithLabelValues(stage).Observe(d.Seconds())
}

// Gate counts one gating decision, GateRefined or GateSkipped.
func (m *Metrics) Gate(decision string) { m.gate.WithLabelValues(decision).Inc() }

// ForgetStream deletes every series labelled with stream, for a stream a
// reload removed, so that its last values do not linger, and ignores what
// is still reported for it (its windows at the model end after it is
// removed) until AddStream.
func (m *Metrics) ForgetStream(stream string) {
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	m.forgotten[stream] = true
	l := prometheus.Labels{"stream": stream}
	m.windows.DeletePartialMatch(l)
	m.windowDuration.DeletePartialMatch(l)
	m.queued.DeletePartialMatch(l)
	m.resultAge.DeletePartialMatch(l)
	m.lastResult.DeletePartialMatch(l)
	m.tracksActive.DeletePartialMatch(l)
	m.trackEvents.DeletePartialMatch(l)
	m.doaWindows.DeletePartialMatch(l)
	m.doaHints.DeletePartialMatch(l)
	m.streams.forget(stream)
}

// AddStream records stream's series again after ForgetStream, for a
// stream of that name that a later reload adds.
func (m *Metrics) AddStream(stream string) {
	m.streamMu.Lock()
	delete(m.forgotten, stream)
	m.streamMu.Unlock()
}

// MQTT returns the publisher's observer.
func (m *Metrics) MQTT() *MQTT { return m.mqtt }
