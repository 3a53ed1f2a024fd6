package metrics

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/promtest"
)

// publishObserver is the publisher's Observer as the publish package
// declares it; Metrics.MQTT must satisfy it without importing publish.
type publishObserver interface {
	Published(kind string)
	Dropped(reason string)
	Pending(n int)
	Connected(up bool)
	Command(result string)
}

var (
	_ mllm.Observer   = (*Model)(nil)
	_ publishObserver = (*MQTT)(nil)
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestMetrics registers Metrics on a fresh registry, with streams
// reporting the given snapshots.
func newTestMetrics(t *testing.T, snaps ...StreamSnapshot) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, Options{
		Version: "v1.2.3",
		FFmpeg:  "libavcodec 59.37.100",
		Streams: func() []StreamSnapshot { return snaps },
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// exercise calls every observer method once or more, so that every family
// has series.
func exercise(m *Metrics) {
	model := m.Model()
	model.BreakerState("http://gpu-1:8000/v1", mllm.BreakerClosed)
	m.UseModel(model)
	model.Request("http://gpu-1:8000/v1", "locate", mllm.ResultOK, 800*time.Millisecond)
	model.Request("http://gpu-1:8000/v1", "analysis", mllm.ResultHTTP5xx, 2*time.Second)
	model.Request("", "refine", mllm.ResultBreakerOpen, 0)
	model.BreakerState("http://gpu-1:8000/v1", mllm.BreakerOpen)
	m.WindowDone("front", "ok")
	m.WindowDone("front", "silent")
	m.WindowAnalysed("front", "published", 2500*time.Millisecond)
	m.WindowAnalysed("front", "dropped", 6*time.Second)
	m.Dropped("front", "stale")
	m.Tracks("front", 1)
	m.TrackEvent("front", "new")
	m.DoAWindow("front", "confident")
	m.DoAHint("front", "moved")
	m.Dropped("front", "queue_full")
	m.Dropped("front", "queue_full")
	m.QueueDepth("front", 2)
	m.AgeAtPublish("front", 3200*time.Millisecond)
	m.StageLatency("locate", 700*time.Millisecond)
	m.Gate(GateSkipped)
	mq := m.MQTT()
	mq.Published("detection")
	mq.Published("status")
	mq.Dropped("max_pending")
	mq.Pending(7)
	mq.Connected(true)
	mq.Command("received")
	mq.CommandChanged()
	mq.Unconfirmed()
}

var frontSnapshot = StreamSnapshot{
	Stream: "front", State: "reconnecting",
	Packets: 9000, DecodeErrors: 3, Reconnects: 2, Stalls: 1, Discontinuities: 4, Abandoned: 1,
	Windows:              40,
	Dropped:              map[string]uint64{"no_frame": 5, "stale": 1},
	SilenceFilledSamples: 24000,
	VideoPacketsDecoded:  700,
	FullDecodeWindows:    map[string]uint64{"gop_too_long": 2},
}

// allowedLabels is the bounded vocabulary of garssl_ label names.
var allowedLabels = map[string]bool{
	"stream": true, "stage": true, "endpoint": true, "reason": true, "outcome": true,
	"state": true, "kind": true, "result": true, "decision": true, "type": true,
	"version": true, "goversion": true, "ffmpeg": true, // build_info only
}

func TestLintHelpAndLabels(t *testing.T) {
	m, reg := newTestMetrics(t, frontSnapshot)
	exercise(m)

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	fams := families(t, reg)
	for name, f := range fams {
		if strings.TrimSpace(f.GetHelp()) == "" {
			t.Errorf("%s has no help text", name)
		}
		if !strings.HasPrefix(name, "garssl_") {
			if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
				t.Errorf("%s has neither the garssl_ prefix nor is it a Go or process collector family", name)
			}
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if !allowedLabels[l.GetName()] {
					t.Errorf("%s has label %q, outside the bounded set", name, l.GetName())
				}
				if l.GetName() == "version" && name != "garssl_build_info" {
					t.Errorf("%s has a version label", name)
				}
			}
		}
	}
	// Every family New registers has series after exercise, so the lint
	// above covered it: a family added without being exercised fails
	// here. Design §5's families are among them.
	for _, name := range registeredFamilies(t) {
		if fams[name] == nil {
			t.Errorf("family %s has no series after exercise: call its observer there", name)
		}
	}
	for _, want := range []string{
		"garssl_windows_total", "garssl_windows_dropped_total", "garssl_windows_cut_total",
		"garssl_gar_stage_duration_seconds", "garssl_gar_window_duration_seconds",
		"garssl_mllm_requests_total", "garssl_mllm_request_duration_seconds", "garssl_mllm_breaker_state",
		"garssl_gar_gate_decisions_total", "garssl_result_age_seconds", "garssl_last_result_timestamp_seconds",
		"garssl_queued_windows", "garssl_tracks_active", "garssl_track_events_total",
		"garssl_doa_windows_total", "garssl_doa_hint_locates_total",
		"garssl_mqtt_messages_published_total", "garssl_mqtt_messages_dropped_total",
		"garssl_mqtt_pending_messages", "garssl_mqtt_connected", "garssl_mqtt_commands_total",
		"garssl_capture_reconnects_total", "garssl_capture_decode_errors_total", "garssl_capture_packets_total",
		"garssl_capture_stalls_total", "garssl_capture_discontinuities_total", "garssl_stream_state",
		"garssl_capture_abandoned_total", "garssl_audio_silence_filled_seconds_total", "garssl_build_info",
		"garssl_capture_full_decode_windows_total", "garssl_capture_video_packets_decoded_total",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if fams[want] == nil {
			t.Errorf("family %s is missing", want)
		}
	}
}

// registeredFamilies returns the names of the garssl_ families New
// registers, whether or not they have series.
func registeredFamilies(t *testing.T) []string {
	t.Helper()
	var names []string
	for name := range promtest.Families(t, func(reg prometheus.Registerer) error {
		_, err := New(reg, Options{Version: "test"})
		return err
	}) {
		if strings.HasPrefix(name, namespace+"_") {
			names = append(names, name)
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d garssl_ families found: %v", len(names), names)
	}
	return names
}

func TestInjectedRegistryOnly(t *testing.T) {
	// Two instances side by side: registering on the global registry would
	// make the second New fail.
	newTestMetrics(t)
	newTestMetrics(t)
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "garssl_") {
			t.Errorf("%s is on the global registry", f.GetName())
		}
	}
}

func TestModelClientValues(t *testing.T) {
	m, reg := newTestMetrics(t)
	ep := "http://gpu-1:8000/v1"
	model := m.Model()
	model.BreakerState(ep, mllm.BreakerClosed)
	m.UseModel(model)
	model.Request(ep, "locate", mllm.ResultOK, 800*time.Millisecond)
	model.Request(ep, "locate", mllm.ResultTimeout, 20*time.Second)
	model.Request("", "locate", mllm.ResultBreakerOpen, 0)
	model.BreakerState(ep, mllm.BreakerOpen)
	model.BreakerState(ep, mllm.BreakerHalfOpen)

	const want = `
# HELP garssl_mllm_breaker_state Circuit breaker state per model endpoint: 1 for the current state (closed, half-open, open), 0 for the others.
# TYPE garssl_mllm_breaker_state gauge
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="closed"} 0
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="half-open"} 1
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="open"} 0
# HELP garssl_mllm_requests_total Model server requests by endpoint, GAR stage and result; result breaker_open (endpoint empty) counts requests refused because every breaker was open.
# TYPE garssl_mllm_requests_total counter
garssl_mllm_requests_total{endpoint="",result="breaker_open",stage="locate"} 1
garssl_mllm_requests_total{endpoint="http://gpu-1:8000/v1",result="ok",stage="locate"} 1
garssl_mllm_requests_total{endpoint="http://gpu-1:8000/v1",result="timeout",stage="locate"} 1
# HELP garssl_mllm_request_duration_seconds Duration of model server requests that were sent, whatever their result, by endpoint and GAR stage.
# TYPE garssl_mllm_request_duration_seconds histogram
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="0.05"} 0
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="0.1"} 0
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="0.25"} 0
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="0.5"} 0
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="1"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="2"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="3"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="5"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="7.5"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="10"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="15"} 1
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="20"} 2
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="30"} 2
garssl_mllm_request_duration_seconds_bucket{endpoint="http://gpu-1:8000/v1",stage="locate",le="+Inf"} 2
garssl_mllm_request_duration_seconds_sum{endpoint="http://gpu-1:8000/v1",stage="locate"} 20.8
garssl_mllm_request_duration_seconds_count{endpoint="http://gpu-1:8000/v1",stage="locate"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"garssl_mllm_breaker_state", "garssl_mllm_requests_total", "garssl_mllm_request_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestSchedulerAndGARValues(t *testing.T) {
	m, reg := newTestMetrics(t)
	m.WindowDone("front", "ok")
	m.WindowDone("front", "ok")
	m.WindowDone("front", "silent")
	m.WindowDone("back", "mllm_unavailable")
	m.WindowAnalysed("front", "published", 2500*time.Millisecond)
	m.WindowAnalysed("front", "published", 4*time.Second)
	m.WindowAnalysed("front", "dropped", 7*time.Second)
	m.WindowAnalysed("back", "published", 30*time.Second)
	m.Gate(GateRefined)
	m.Gate(GateSkipped)
	m.Gate(GateSkipped)
	m.QueueDepth("front", 2)
	m.QueueDepth("front", 1)
	m.AgeAtPublish("front", 3200*time.Millisecond)
	m.StageLatency("analysis", 40*time.Millisecond)

	const want = `
# HELP garssl_windows_total Windows that went through the GAR loop or its shortcut and were handed to the publisher, by stream and outcome (the payload status: ok, silent, mllm_unavailable, invalid_model_output).
# TYPE garssl_windows_total counter
garssl_windows_total{outcome="mllm_unavailable",stream="back"} 1
garssl_windows_total{outcome="ok",stream="front"} 2
garssl_windows_total{outcome="silent",stream="front"} 1
# HELP garssl_gar_gate_decisions_total Gating decisions per source: refined, or refinement skipped because the analysis trials agreed (paper Eq. 10).
# TYPE garssl_gar_gate_decisions_total counter
garssl_gar_gate_decisions_total{decision="refined"} 1
garssl_gar_gate_decisions_total{decision="skipped"} 2
# HELP garssl_queued_windows Windows waiting for the model in the stream's bounded queue.
# TYPE garssl_queued_windows gauge
garssl_queued_windows{stream="front"} 1
# HELP garssl_last_result_timestamp_seconds Unix time at which the stream's latest result (any status) was published.
# TYPE garssl_last_result_timestamp_seconds gauge
garssl_last_result_timestamp_seconds{stream="front"} 1.7408304e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"garssl_windows_total", "garssl_gar_gate_decisions_total", "garssl_queued_windows",
		"garssl_last_result_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// Every window that reached the model has a GAR time, the dropped one
	// too, under its own outcome.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP garssl_gar_window_duration_seconds Time the GAR loop took for one window that reached the model, all stages, by stream and outcome: published (any status) or dropped (cut or stale before a result, not published).
# TYPE garssl_gar_window_duration_seconds histogram
`+durationSeries("back", "published", 30)+durationSeries("front", "dropped", 7)+durationSeries("front", "published", 2.5, 4)),
		"garssl_gar_window_duration_seconds"); err != nil {
		t.Error(err)
	}
	if n := histogramCount(t, reg, "garssl_result_age_seconds", "front"); n != 1 {
		t.Errorf("front's result age count = %d, want 1", n)
	}
	if n := histogramCount(t, reg, "garssl_gar_stage_duration_seconds", ""); n != 1 {
		t.Errorf("stage duration count = %d, want 1", n)
	}
}

// durationSeries is the exposition of one garssl_gar_window_duration_seconds
// series holding the given observations, in seconds.
func durationSeries(stream, outcome string, obs ...float64) string {
	var b strings.Builder
	sum := 0.0
	for _, o := range obs {
		sum += o
	}
	for _, le := range append(slices.Clone(LatencyBuckets), math.Inf(1)) {
		n := 0
		for _, o := range obs {
			if o <= le {
				n++
			}
		}
		bound := strconv.FormatFloat(le, 'g', -1, 64)
		if math.IsInf(le, 1) {
			bound = "+Inf"
		}
		fmt.Fprintf(&b, "garssl_gar_window_duration_seconds_bucket{outcome=%q,stream=%q,le=%q} %d\n", outcome, stream, bound, n)
	}
	fmt.Fprintf(&b, "garssl_gar_window_duration_seconds_sum{outcome=%q,stream=%q} %g\n", outcome, stream, sum)
	fmt.Fprintf(&b, "garssl_gar_window_duration_seconds_count{outcome=%q,stream=%q} %d\n", outcome, stream, len(obs))
	return b.String()
}

// families gathers reg, by family name.
func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	return byName
}

// histogramCount returns the sample count of the histogram name for stream
// (its first series when stream is empty).
func histogramCount(t *testing.T, g prometheus.Gatherer, name, stream string) uint64 {
	t.Helper()
	for _, m := range families(t, g)[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if stream == "" || (l.GetName() == "stream" && l.GetValue() == stream) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestStreamCollector(t *testing.T) {
	m, reg := newTestMetrics(t, frontSnapshot, StreamSnapshot{Stream: "back", State: "running", Packets: 10})
	// The scheduler's drops share the family with windowing's.
	m.Dropped("front", "stale")
	m.Dropped("front", "queue_full")
	m.Dropped("gone", "stale") // a stream without a snapshot keeps its drops

	const want = `
# HELP garssl_windows_dropped_total Windows of the stream lost before a result, by reason: cut failures counted by windowing, and the scheduler's drops (stale, too_late, superseded, queue_full, paused, removed, shutdown).
# TYPE garssl_windows_dropped_total counter
garssl_windows_dropped_total{reason="no_frame",stream="front"} 5
garssl_windows_dropped_total{reason="queue_full",stream="front"} 1
garssl_windows_dropped_total{reason="stale",stream="front"} 2
garssl_windows_dropped_total{reason="stale",stream="gone"} 1
# HELP garssl_stream_state Stream state: 1 for the current state (connecting, running, reconnecting, paused, stopped), 0 for the others.
# TYPE garssl_stream_state gauge
garssl_stream_state{state="connecting",stream="back"} 0
garssl_stream_state{state="connecting",stream="front"} 0
garssl_stream_state{state="paused",stream="back"} 0
garssl_stream_state{state="paused",stream="front"} 0
garssl_stream_state{state="reconnecting",stream="back"} 0
garssl_stream_state{state="reconnecting",stream="front"} 1
garssl_stream_state{state="running",stream="back"} 1
garssl_stream_state{state="running",stream="front"} 0
garssl_stream_state{state="stopped",stream="back"} 0
garssl_stream_state{state="stopped",stream="front"} 0
# HELP garssl_capture_packets_total Packets demuxed from the stream's inputs.
# TYPE garssl_capture_packets_total counter
garssl_capture_packets_total{stream="back"} 10
garssl_capture_packets_total{stream="front"} 9000
# HELP garssl_capture_decode_errors_total Packets or frames of the stream that the decoders rejected.
# TYPE garssl_capture_decode_errors_total counter
garssl_capture_decode_errors_total{stream="back"} 0
garssl_capture_decode_errors_total{stream="front"} 3
# HELP garssl_capture_stalls_total Times no packet arrived from the stream within its stall_timeout.
# TYPE garssl_capture_stalls_total counter
garssl_capture_stalls_total{stream="back"} 0
garssl_capture_stalls_total{stream="front"} 1
# HELP garssl_windows_cut_total Windows cut from the stream and handed to the scheduler.
# TYPE garssl_windows_cut_total counter
garssl_windows_cut_total{stream="back"} 0
garssl_windows_cut_total{stream="front"} 40
# HELP garssl_capture_reconnects_total Times one of the stream's inputs was reopened after a failure.
# TYPE garssl_capture_reconnects_total counter
garssl_capture_reconnects_total{stream="back"} 0
garssl_capture_reconnects_total{stream="front"} 2
# HELP garssl_capture_discontinuities_total Timestamp jumps in the stream that the window timeline absorbed.
# TYPE garssl_capture_discontinuities_total counter
garssl_capture_discontinuities_total{stream="back"} 0
garssl_capture_discontinuities_total{stream="front"} 4
# HELP garssl_capture_abandoned_total Capture sessions of the stream that did not stop within 5 s when told to (stuck in a system call) and were left behind; each holds a thread and its input until the call returns.
# TYPE garssl_capture_abandoned_total counter
garssl_capture_abandoned_total{stream="back"} 0
garssl_capture_abandoned_total{stream="front"} 1
# HELP garssl_audio_silence_filled_seconds_total Audio gaps in the stream filled with silence.
# TYPE garssl_audio_silence_filled_seconds_total counter
garssl_audio_silence_filled_seconds_total{stream="back"} 0
garssl_audio_silence_filled_seconds_total{stream="front"} 1.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"garssl_windows_dropped_total", "garssl_stream_state", "garssl_capture_packets_total",
		"garssl_capture_reconnects_total", "garssl_capture_discontinuities_total", "garssl_capture_abandoned_total",
		"garssl_capture_decode_errors_total", "garssl_capture_stalls_total", "garssl_windows_cut_total",
		"garssl_audio_silence_filled_seconds_total"); err != nil {
		t.Error(err)
	}

	// An unexpected state is shown, not hidden as all zeros.
	_, reg2 := newTestMetrics(t, StreamSnapshot{Stream: "odd", State: "starting"})
	if err := testutil.GatherAndCompare(reg2, strings.NewReader(`
# HELP garssl_stream_state Stream state: 1 for the current state (connecting, running, reconnecting, paused, stopped), 0 for the others.
# TYPE garssl_stream_state gauge
garssl_stream_state{state="connecting",stream="odd"} 0
garssl_stream_state{state="paused",stream="odd"} 0
garssl_stream_state{state="reconnecting",stream="odd"} 0
garssl_stream_state{state="running",stream="odd"} 0
garssl_stream_state{state="starting",stream="odd"} 1
garssl_stream_state{state="stopped",stream="odd"} 0
`), "garssl_stream_state"); err != nil {
		t.Error(err)
	}
}

func TestMQTTValues(t *testing.T) {
	m, reg := newTestMetrics(t)
	o := m.MQTT()
	o.Published("detection")
	o.Published("detection")
	o.Published("state")
	o.Dropped("store_error")
	o.Pending(12)
	o.Pending(3)
	o.Connected(true)
	o.Connected(false)
	o.Command("malformed")

	const want = `
# HELP garssl_mqtt_messages_published_total MQTT messages the broker acknowledged (at QoS 0: handed to the network), by kind (detection, state, status, event, tracks).
# TYPE garssl_mqtt_messages_published_total counter
garssl_mqtt_messages_published_total{kind="detection"} 2
garssl_mqtt_messages_published_total{kind="event"} 0
garssl_mqtt_messages_published_total{kind="state"} 1
garssl_mqtt_messages_published_total{kind="status"} 0
garssl_mqtt_messages_published_total{kind="tracks"} 0
# HELP garssl_mqtt_messages_dropped_total MQTT detections given up, by reason (max_pending, expired, store_error, publish_error, shutdown, too_large).
# TYPE garssl_mqtt_messages_dropped_total counter
garssl_mqtt_messages_dropped_total{reason="expired"} 0
garssl_mqtt_messages_dropped_total{reason="max_pending"} 0
garssl_mqtt_messages_dropped_total{reason="publish_error"} 0
garssl_mqtt_messages_dropped_total{reason="shutdown"} 0
garssl_mqtt_messages_dropped_total{reason="store_error"} 1
garssl_mqtt_messages_dropped_total{reason="too_large"} 0
# HELP garssl_mqtt_pending_messages MQTT detections queued or in the file store and not yet acknowledged by the broker.
# TYPE garssl_mqtt_pending_messages gauge
garssl_mqtt_pending_messages 3
# HELP garssl_mqtt_connected 1 while the MQTT client is connected to the broker, else 0.
# TYPE garssl_mqtt_connected gauge
garssl_mqtt_connected 0
# HELP garssl_mqtt_commands_total Messages received on <stream>/set topics, by result (received, ignored_retained, malformed, unknown_stream).
# TYPE garssl_mqtt_commands_total counter
garssl_mqtt_commands_total{result="ignored_retained"} 0
garssl_mqtt_commands_total{result="malformed"} 1
garssl_mqtt_commands_total{result="received"} 0
garssl_mqtt_commands_total{result="unknown_stream"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"garssl_mqtt_messages_published_total", "garssl_mqtt_messages_dropped_total", "garssl_mqtt_pending_messages",
		"garssl_mqtt_connected", "garssl_mqtt_commands_total"); err != nil {
		t.Error(err)
	}
}

func TestForgetStream(t *testing.T) {
	m, reg := newTestMetrics(t)
	for _, s := range []string{"front", "back"} {
		m.WindowDone(s, "ok")
		m.WindowAnalysed(s, "published", time.Second)
		m.Dropped(s, "stale")
		m.QueueDepth(s, 1)
		m.AgeAtPublish(s, time.Second)
		m.Tracks(s, 1)
		m.TrackEvent(s, "new")
		m.DoAWindow(s, "flat")
		m.DoAHint(s, "kept")
	}
	m.ForgetStream("back")
	fronts := 0
	for _, f := range families(t, reg) {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() != "stream" {
					continue
				}
				switch l.GetValue() {
				case "back":
					t.Errorf("%s still has a series for the forgotten stream", f.GetName())
				case "front":
					fronts++
				}
			}
		}
	}
	if fronts != 10 { // windows, window duration, drops, queue, age, last result, tracks, track events, doa windows, doa hints
		t.Errorf("front has %d series after forgetting back, want 10", fronts)
	}

	// A removed stream's windows still at the model end after it is
	// forgotten: they make no series again.
	m.WindowDone("back", "ok")
	m.WindowAnalysed("back", "dropped", time.Second)
	m.Dropped("back", "removed")
	m.QueueDepth("back", 0)
	m.AgeAtPublish("back", time.Second)
	m.Tracks("back", 0)
	m.TrackEvent("back", "end")
	m.DoAWindow("back", "weak")
	m.DoAHint("back", "failed")
	if n := seriesWith(t, reg, "stream", "back"); n != 0 {
		t.Errorf("the forgotten stream has %d series again", n)
	}
	// A stream of that name added by a later reload counts anew.
	m.AddStream("back")
	m.WindowDone("back", "ok")
	m.WindowAnalysed("back", "published", time.Second)
	if n := seriesWith(t, reg, "stream", "back"); n != 2 { // windows and window duration
		t.Errorf("the stream added again has %d series, want 2", n)
	}
}

// seriesWith counts the series of every family that carry label = value.
func seriesWith(t *testing.T, g prometheus.Gatherer, label, value string) int {
	t.Helper()
	n := 0
	for _, f := range families(t, g) {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					n++
				}
			}
		}
	}
	return n
}

// A model client's series follow the client in use: none before it is
// used (a reload refused after building it leaves none), an endpoint the
// next client lacks loses its series, and the replaced client, which
// finishes its windows, counts only requests to endpoints still in use and
// no longer sets breaker states.
func TestModelSeriesFollowTheClientInUse(t *testing.T) {
	m, reg := newTestMetrics(t)
	const kept, gone, added = "http://gpu-1:8000/v1", "http://gpu-2:8000/v1", "http://gpu-3:8000/v1"
	first := m.Model()
	first.BreakerState(kept, mllm.BreakerClosed)
	first.BreakerState(gone, mllm.BreakerClosed)
	if n := seriesWith(t, reg, "endpoint", kept); n != 0 {
		t.Errorf("%d series before the client is used", n)
	}
	m.UseModel(first)
	first.Request(kept, "locate", mllm.ResultOK, time.Second)
	first.Request(gone, "locate", mllm.ResultOK, time.Second)
	if n := seriesWith(t, reg, "endpoint", gone); n != 5 { // 3 breaker states, requests, duration
		t.Errorf("an endpoint in use has %d series, want 5", n)
	}

	refused := m.Model() // built for a reload that is then refused
	refused.BreakerState(added, mllm.BreakerClosed)
	refused.Request(added, "locate", mllm.ResultOK, time.Second)
	refused.Request(kept, "refine", mllm.ResultOK, time.Second)
	refused.Request("", "refine", mllm.ResultBreakerOpen, 0)
	if n := seriesWith(t, reg, "endpoint", added); n != 0 {
		t.Errorf("a client never used made %d series", n)
	}

	next := m.Model()
	next.BreakerState(kept, mllm.BreakerClosed)
	next.BreakerState(added, mllm.BreakerClosed)
	m.UseModel(next)
	first.Request(gone, "analysis", mllm.ResultOK, time.Second) // finishing its windows
	first.Request(kept, "analysis", mllm.ResultOK, time.Second)
	first.BreakerState(kept, mllm.BreakerOpen)
	if n := seriesWith(t, reg, "endpoint", gone); n != 0 {
		t.Errorf("the removed endpoint has %d series", n)
	}
	if n := seriesWith(t, reg, "endpoint", added); n != 3 {
		t.Errorf("the added endpoint has %d series, want its 3 breaker states", n)
	}
	const want = `
# HELP garssl_mllm_breaker_state Circuit breaker state per model endpoint: 1 for the current state (closed, half-open, open), 0 for the others.
# TYPE garssl_mllm_breaker_state gauge
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="closed"} 1
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="half-open"} 0
garssl_mllm_breaker_state{endpoint="http://gpu-1:8000/v1",state="open"} 0
garssl_mllm_breaker_state{endpoint="http://gpu-3:8000/v1",state="closed"} 1
garssl_mllm_breaker_state{endpoint="http://gpu-3:8000/v1",state="half-open"} 0
garssl_mllm_breaker_state{endpoint="http://gpu-3:8000/v1",state="open"} 0
# HELP garssl_mllm_requests_total Model server requests by endpoint, GAR stage and result; result breaker_open (endpoint empty) counts requests refused because every breaker was open.
# TYPE garssl_mllm_requests_total counter
garssl_mllm_requests_total{endpoint="http://gpu-1:8000/v1",result="ok",stage="analysis"} 1
garssl_mllm_requests_total{endpoint="http://gpu-1:8000/v1",result="ok",stage="locate"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "garssl_mllm_breaker_state", "garssl_mllm_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestBuildInfo(t *testing.T) {
	_, reg := newTestMetrics(t)
	f := families(t, reg)["garssl_build_info"]
	if f == nil {
		t.Fatal("garssl_build_info is missing")
	}
	labels := map[string]string{}
	for _, l := range f.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "v1.2.3" || labels["ffmpeg"] != "libavcodec 59.37.100" || !strings.HasPrefix(labels["goversion"], "go") {
		t.Errorf("build_info labels = %v", labels)
	}
	if v := f.GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("build_info = %v, want 1", v)
	}
}

// Series with a known label set exist from the first scrape, so that
// rate() and alerts on them work before the first event.
func TestKnownSeriesStartAtZero(t *testing.T) {
	_, reg := newTestMetrics(t)
	const want = `
# HELP garssl_gar_gate_decisions_total Gating decisions per source: refined, or refinement skipped because the analysis trials agreed (paper Eq. 10).
# TYPE garssl_gar_gate_decisions_total counter
garssl_gar_gate_decisions_total{decision="refined"} 0
garssl_gar_gate_decisions_total{decision="skipped"} 0
# HELP garssl_mqtt_commands_total Messages received on <stream>/set topics, by result (received, ignored_retained, malformed, unknown_stream).
# TYPE garssl_mqtt_commands_total counter
garssl_mqtt_commands_total{result="ignored_retained"} 0
garssl_mqtt_commands_total{result="malformed"} 0
garssl_mqtt_commands_total{result="received"} 0
garssl_mqtt_commands_total{result="unknown_stream"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"garssl_gar_gate_decisions_total", "garssl_mqtt_commands_total"); err != nil {
		t.Error(err)
	}
}
