package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
)

// overloadScale shrinks issue 13's setup in time, so that the test sees
// about 16 results in a minute: windows every 3 s × scale, stale_after
// 6 s × scale, and omnisim slowed so that one window takes about
// 5 s × scale on the model (max_in_flight = 1).
const (
	overloadScale     = 2.0 / 3
	overloadTimeScale = 1.75 // omnisim --time-scale giving ≈ 5 s × overloadScale a window, one request at a time
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
		maxInFlight: 1, maxQueue: 3, staleAfter: scaled(6 * time.Second), window: scaled(3 * time.Second)},
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
