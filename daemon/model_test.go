package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/omnisim"
)

// The model server goes down: the breaker opens, windows are published as
// mllm_unavailable, /readyz says why; when the server is back, ok
// detections flow again and the daemon is ready.
func TestModelOutage(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "model")
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	withStatus := func(status gar.Status, after uint64) func([]mosquittotest.Message) bool {
		return detectionAfter(t, "front", status, after)
	}
	sub.WaitFor(t, "an ok detection", 30*time.Second, withStatus(gar.StatusOK, 0))
	waittest.For(t, "ready", 30*time.Second, func() bool { return r.ready(t).Ready })

	s.down(t)
	waittest.For(t, "the breaker to open", 60*time.Second, func() bool {
		return r.scrape(t).sum("garssl_mllm_breaker_state", map[string]string{"state": mllm.BreakerOpen}) == 1
	})
	sub.WaitFor(t, "an mllm_unavailable detection", 30*time.Second, withStatus(gar.StatusMLLMUnavailable, 0))
	rep := r.ready(t)
	if rep.Ready || len(rep.Endpoints) != 1 || rep.Endpoints[0].Breaker != mllm.BreakerOpen ||
		!strings.Contains(strings.Join(rep.Reasons, "; "), "circuit breaker open") {
		t.Errorf("/readyz during the outage: %+v", rep)
	}
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d during a model outage; a restart would not fix the model", code)
	}
	var lastDown uint64
	for _, d := range detections(t, sub.Messages(), "front") {
		if d.Status == gar.StatusMLLMUnavailable {
			lastDown = max(lastDown, d.Seq)
			if d.Error == "" || len(d.Sources) != 0 {
				t.Errorf("seq %d: mllm_unavailable with error %q and %d sources", d.Seq, d.Error, len(d.Sources))
			}
		}
	}

	s.up(t)
	sub.WaitFor(t, "ok detections after the outage", 60*time.Second, withStatus(gar.StatusOK, lastDown))
	waittest.For(t, "ready again", 30*time.Second, func() bool { return r.ready(t).Ready })
}

// Two streams and a model that can serve about half of their windows:
// each stream gets between 40 % and 60 % of the windows analysed, and the
// rest are counted as dropped for being too slow.
func TestTwoStreamsShareAHalfSpeedModel(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	// A window costs the model about one window's time: one slot for two
	// streams serves about half of what they offer.
	s := startSim(t, 0.45)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"),
		maxInFlight: 1, maxQueue: 1, staleAfter: "3s", window: "1s"},
		streamSpec{name: "left", input: clip, extra: []string{"loop = true"}},
		streamSpec{name: "right", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})

	const enough = 24
	var left, right float64
	waittest.For(t, "24 windows analysed", 3*time.Minute, func() bool {
		m := r.scrape(t)
		left = m.sum("garssl_windows_total", map[string]string{"stream": "left"})
		right = m.sum("garssl_windows_total", map[string]string{"stream": "right"})
		return left+right >= enough
	})
	m := r.scrape(t)
	dropped := 0.0
	for _, st := range []string{"left", "right"} {
		d, _ := schedulerDrops(m, st)
		dropped += d
	}
	share := left / (left + right)
	t.Logf("analysed left %v, right %v (left share %.2f); dropped %v", left, right, share, dropped)
	if share < 0.4 || share > 0.6 {
		t.Errorf("left got %.0f%% of the analysed windows, want 40–60%%", 100*share)
	}
	if dropped < (left+right)/3 {
		t.Errorf("only %v windows dropped for %v analysed: the model was not the bottleneck", dropped, left+right)
	}
}

// detectionAfter is a wait condition: stream published a detection with
// status after seq.
func detectionAfter(t testing.TB, stream string, status gar.Status, seq uint64) func([]mosquittotest.Message) bool {
	return func(msgs []mosquittotest.Message) bool {
		for _, d := range detections(t, msgs, stream) {
			if d.Status == status && d.Seq > seq {
				return true
			}
		}
		return false
	}
}

// A model server away for 2 s costs seconds of mllm_unavailable, not the
// breaker's open_for (issue 13), measured as the issue does: from the
// server's return to the first ok detection. The outage is exactly 2 s
// from the moment the server goes down (omnisim's down window), however
// long the breaker takes to trip. With the default open times the first
// opening lasts open_min (1 s) and doubles per failed probe; it trips
// after the server went down, so its second probe comes at least
// 1 s + 2 s later, after the return: at most two openings, 1 s and 2 s,
// and the return is found within about 2 s plus a window. Three failures
// (one window's attempts) trip it well inside the outage, also on a slow
// machine, and make a failed first probe, the slow path, likely.
func TestModelRestartCostsSeconds(t *testing.T) {
	const outage, goal = 2 * time.Second, 5 * time.Second
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "restart")
	s := startSim(t, 0)
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store"), breaker: "    consecutive_failures = 3\n    open_for = \"30s\"\n"},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	okAfter := func(after uint64) func([]mosquittotest.Message) bool {
		return detectionAfter(t, "front", gar.StatusOK, after)
	}
	sub.WaitFor(t, "an ok detection", 30*time.Second, okAfter(0))

	downAt := time.Now()
	back := s.downFor(t, outage)
	// The log, not the state metric: the breaker may open and close
	// between two scrapes.
	waittest.For(t, "the breaker to open during the outage", 30*time.Second, func() bool { return len(breakerOpenings(t, r)) > 0 })
	// Wait out the outage; ok detections published before the return
	// are not the recovery.
	time.Sleep(time.Until(back))
	var lastSeq uint64
	for _, d := range detections(t, sub.Messages(), "front") {
		lastSeq = max(lastSeq, d.Seq)
	}
	sub.WaitFor(t, "an ok detection after the return", 30*time.Second, okAfter(lastSeq))
	cost := time.Since(back)
	opens := breakerOpenings(t, r)
	t.Logf("model server away %s: breaker opened %.2fs after it went down, open times %v; first ok detection %.2fs after its return",
		outage, opens[0].at.Sub(downAt).Seconds(), opens, cost.Seconds())
	if cost > goal {
		t.Errorf("first ok detection %s after the server's return, want at most %s", cost, goal)
	}
	want := []time.Duration{mllm.DefaultOpenMin, 2 * mllm.DefaultOpenMin}
	if len(opens) > len(want) {
		t.Errorf("%d openings %v for a %s outage, want at most %d: %v", len(opens), opens, outage, len(want), want)
	}
	for i, o := range opens[:min(len(opens), len(want))] {
		if o.openFor != want[i] {
			t.Errorf("opening %d of %v lasts %s, want %s: open_min, doubled per failed probe", i+1, opens, o.openFor, want[i])
		}
	}
}

// opening is one opening of the circuit breaker, from its log line.
type opening struct {
	at      time.Time
	openFor time.Duration
}

func (o opening) String() string { return o.openFor.String() }

// breakerOpenings are the breaker's openings the daemon logged, in order.
func breakerOpenings(t testing.TB, r *running) []opening {
	t.Helper()
	var out []opening
	for _, l := range r.logs.lines("circuit breaker state changed") {
		if l["to"] != mllm.BreakerOpen {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["@timestamp"]))
		ns, ok := l["probe_in"].(float64)
		if err != nil || !ok {
			t.Fatalf("breaker log line without a time or probe_in: %v (%v)", l, err)
		}
		out = append(out, opening{at: at, openFor: time.Duration(ns)})
	}
	return out
}

// A model server that cannot take the sound (vLLM without vllm[audio]) is
// a setup problem: /readyz names the fix, windows are published as
// mllm_unavailable saying it, and the breaker stays closed.
func TestModelServerWithoutAudio(t *testing.T) {
	dir := t.TempDir()
	clip := makeClip(t, dir, "clip.mp4", 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "noaudio")
	s := startSim(t, 0)
	f := s.CurrentFaults()
	f.RefuseMedia = omnisim.RefuseVLLMAudio
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	r := startDaemon(t, configText(setup{broker: b.URL(), endpoint: s.url, storeDir: filepath.Join(dir, "store")},
		streamSpec{name: "front", input: clip, extra: []string{"loop = true"}}), nil, testHooks{})
	sub.WaitFor(t, "mllm_unavailable detections", 30*time.Second, func(msgs []mosquittotest.Message) bool {
		n := 0
		for _, d := range detections(t, msgs, "front") {
			if d.Status == gar.StatusMLLMUnavailable && strings.Contains(d.Error, "vllm[audio]") {
				n++
			}
		}
		return n >= 3
	})
	rep := r.ready(t)
	if rep.Ready || len(rep.Endpoints) != 1 || rep.Endpoints[0].Breaker != mllm.BreakerClosed ||
		!strings.Contains(rep.Endpoints[0].Problem, `pip install "vllm[audio]"`) ||
		!strings.Contains(strings.Join(rep.Reasons, "; "), "misconfigured") {
		t.Errorf("/readyz: %+v", rep)
	}
	if n := s.Stats().Faults.MediaRefused; n > 2 {
		t.Errorf("the server was sent %d requests it refuses; after the first answer windows must fail without one", n)
	}
}
