package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/health"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/metrics"
)

// overloadScale shrinks issue 13's setup in time, so that the test sees
// about 16 results in a minute: windows every 3 s × scale and stale_after
// 6 s × scale. omnisim is slowed so that one window sleeps about 2.3 s on
// the model (max_in_flight = 1): 2.3 times slower than the two streams
// offer windows, yet 1.7 s under stale_after. Issue 13's 5 s × scale
// (3.3 s) left 0.7 s, and a loaded CI runner with -race spent that on
// the in-process omnisim's and the daemon's own CPU work (estimate 3.8 s),
// so windows went stale and the test measured the runner, not the
// schedule.
const (
	overloadScale     = 2.0 / 3
	overloadTimeScale = 1.2 // omnisim --time-scale giving ≈ 2.3 s of model sleep a window, one request at a time
)

// Issue 13, item 1, against the real daemon: two streams looping the same
// clip, opened together (their windows arrive in lockstep), a healthy
// model slower than they offer windows, max_in_flight 1, max_queue 3. The
// model's work is not thrown away, both streams are served, results are
// fresh, and the daemon stays ready.
func TestOverloadIsFreshFairAndReady(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 6)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	timeScale := overloadTimeScale
	if v, err := strconv.ParseFloat(os.Getenv("GARSSLD_TEST_OVERLOAD_TIME_SCALE"), 64); err == nil {
		timeScale = v
	}
	s := startSim(t, timeScale)
	scaled := func(d time.Duration) string { return (time.Duration(float64(d) * overloadScale)).String() }
	staleAfter := time.Duration(float64(6*time.Second) * overloadScale)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"),
		maxInFlight: 1, maxQueue: 3, staleAfter: scaled(6 * time.Second), window: scaled(3 * time.Second),
		// The live view's second frame encode per window is CPU work that
		// only adds to the service estimate under -race; this test is
		// about the schedule, so the view is off.
		extraHTTP: []string{"view = false"}},
		streamSpec{name: "left", input: clip, extra: []string{"loop = true"}},
		streamSpec{name: "right", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	sub := subscribe(t, b, "overload")

	// Run until the model has delivered enough for shares to mean
	// something, however loaded the machine; /readyz must say ready
	// throughout.
	waittest.For(t, "ready", 60*time.Second, func() bool { return r.ready(t).Ready })
	const enough = 16
	notReady := 0
	var lastReasons []string
	waittest.For(t, "16 ok detections", 3*time.Minute, func() bool {
		if rep := r.ready(t); !rep.Ready {
			notReady++
			lastReasons = rep.Reasons
		}
		m := r.scrape(t)
		return m.sum("garssl_windows_total", map[string]string{"outcome": string(gar.StatusOK)}) >= enough
	})
	m := r.scrape(t)
	est, _ := r.sched.Load().ServiceTime()

	ok := m.byLabel("garssl_windows_total", "stream", map[string]string{"outcome": string(gar.StatusOK)})
	unavailable := m.sum("garssl_windows_total", map[string]string{"outcome": string(gar.StatusMLLMUnavailable)})
	results := m.byLabel("garssl_mllm_requests_total", "result", nil)
	requests, wasted := 0.0, 0.0
	for result, n := range results {
		requests += n
		if result != mllm.ResultOK {
			wasted += n
		}
	}
	_, leftDrops := schedulerDrops(m, "left")
	_, rightDrops := schedulerDrops(m, "right")
	t.Logf("service estimate %s; ok left %v right %v; requests %v (%v); drops left %v right %v; not ready %d times %q",
		est, ok["left"], ok["right"], requests, results, leftDrops, rightDrops, notReady, lastReasons)

	if share := ok["left"] / (ok["left"] + ok["right"]); share < 0.4 || share > 0.6 {
		t.Errorf("left got %.0f %% of the ok detections (%v of %v), want 40–60 %%", 100*share, ok["left"], ok["left"]+ok["right"])
	}
	if wasted > 0.05*requests {
		t.Errorf("%v of %v model requests were wasted (cut or failed): %v; want at most 5 %%", wasted, requests, results)
	}
	if unavailable != 0 {
		t.Errorf("%v windows published as mllm_unavailable from a healthy server", unavailable)
	}
	if open := m.sum("garssl_mllm_breaker_state", map[string]string{"state": mllm.BreakerOpen}); open != 0 {
		t.Errorf("the breaker of a healthy server is open")
	}
	if notReady > 0 {
		t.Errorf("/readyz said not ready %d times, last %q", notReady, lastReasons)
	}
	for _, stream := range []string{"left", "right"} {
		for _, d := range detections(t, sub.Messages(), stream) {
			if age := time.Duration(d.LatencyMS.AgeAtPublish) * time.Millisecond; age > staleAfter {
				t.Errorf("%s/%d published %s after its window ended, past stale_after %s", stream, d.Seq, age, staleAfter)
			}
		}
	}
}

// Stage durations are recorded for a published window of any status: the
// slow windows that end mllm_unavailable or invalid_model_output count too.
func TestStageDurationsForEveryStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []gar.Status{gar.StatusOK, gar.StatusMLLMUnavailable, gar.StatusInvalidModelOutput} {
		observeDetection(m, &gar.Detection{Status: st, LatencyMS: gar.LatencyMS{Locate: 1200}})
	}
	observeDetection(m, &gar.Detection{Status: gar.StatusSilent}) // no stage ran
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range fams {
		if f.GetName() == "garssl_gar_stage_duration_seconds" {
			for _, s := range f.GetMetric() {
				n += s.GetHistogram().GetSampleCount()
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d locate durations recorded, want 3 (ok, mllm_unavailable, invalid_model_output)", n)
	}
}

// A model slower than stale_after for the only stream: nothing can be
// delivered fresh, and /readyz says so (503, with the stream's warning),
// where it used to say ready while no window was published.
func TestModelSlowerThanStaleAfterIsNotReady(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 6)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	s := startSim(t, 3) // a window takes several seconds, stale_after is 1.5 s
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"),
		maxInFlight: 1, staleAfter: "1500ms", window: "500ms"},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	var rep health.Report
	waittest.For(t, "not ready: every stream degraded", 2*time.Minute, func() bool {
		rep = r.ready(t)
		return !rep.Ready && len(rep.Warnings) > 0
	})
	if !strings.Contains(strings.Join(rep.Reasons, "\n"), "every running stream is degraded") ||
		!strings.Contains(rep.Warnings[0], "stream front is degraded") || !strings.Contains(rep.Warnings[0], "stream.stale_after = 1.5s") {
		t.Fatalf("reasons %q, warnings %q", rep.Reasons, rep.Warnings)
	}
	if code, _ := r.get(t, health.PathReadyz); code != 503 {
		t.Fatalf("/readyz answered %d, want 503", code)
	}
	if n := len(r.logs.lines("stream degraded")); n != 1 {
		t.Fatalf("%d log lines saying the stream is degraded, want 1", n)
	}
}
