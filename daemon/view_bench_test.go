package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/internal/browsertest"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/ssetest"
	"github.com/garssl/garssld/internal/waittest"
)

// benchViewers is the load: the browser and 15 more pages
// following /events (http.max_viewers' default, 16, in all).
const benchViewers = 16

// BenchmarkViewDetectionToBrowser measures how long a detection takes from
// its arrival at an MQTT subscriber to the page's handling of its event
// (issue 16's goal: p99 ≤ 100 ms), both on this machine: the subscriber's
// receive time against the time the page's handler stamps on the stream's
// panel (performance.timeOrigin + performance.now(), data-received-at).
// Four looping streams of 1 s windows, omnisim in truth mode answering at
// once (time scale 0: no simulated latency is in these figures, which
// start after the model), and 16 viewers: headless Chromium and 15 plain
// SSE clients. One op is one detection published; ns/op is therefore the
// time between detections, not a cost. Reported: mqtt-to-page p50, p99 and
// max in ms over every detection published in the measured loop, and how
// many the page never handled (missed). Run it with enough detections
// for a p99, as make bench does:
//
//	go test -run '^$' -bench ViewDetectionToBrowser -benchtime 400x ./daemon/
func BenchmarkViewDetectionToBrowser(b *testing.B) {
	dir := b.TempDir()
	br := mosquittotest.Start(b, mosquittotest.Config{})
	sub := subscribe(b, br, "view-bench")
	clip := makeClip(b, dir, "clip.mp4", 8)
	sim := startSim(b, 0)
	var streams []streamSpec
	for i := range 4 {
		streams = append(streams, streamSpec{name: fmt.Sprintf("cam%d", i+1), input: clip, extra: []string{"loop = true"}})
	}
	d := startDaemon(b, configText(setup{broker: br.URL(), endpoint: sim.url, storeDir: filepath.Join(dir, "store"), maxInFlight: 8}, streams...), nil, testHooks{})
	base := "http://" + d.HTTPAddr().String()

	page := browsertest.Start(b)
	page.Navigate(base + "/")
	browsertest.Eval[bool](page, watchJS)
	browsertest.Eval[bool](page, lagJS)
	waitLive(b, page, d.RunID())
	sse := followEvents(b, base+"/events", benchViewers-1)
	waittest.For(b, fmt.Sprintf("%d viewers connected", benchViewers), 30*time.Second, func() bool {
		return d.scrape(b).sum("garssl_view_viewers", nil) == benchViewers
	})

	detectionsNow := func() int {
		n := 0
		for _, m := range sub.Messages() {
			if strings.HasSuffix(m.Topic, "/detections") {
				n++
			}
		}
		return n
	}
	startAt := time.Now()
	seen := detectionsNow()
	for b.Loop() {
		for detectionsNow() <= seen {
			time.Sleep(2 * time.Millisecond)
		}
		seen++
	}
	endAt := time.Now()

	// The detections that arrived during the loop, and when the page
	// handled each.
	type key struct {
		stream string
		seq    uint64
	}
	arrived := map[key]time.Time{}
	for _, m := range sub.Messages() {
		if m.Received.Before(startAt) || m.Received.After(endAt) {
			continue
		}
		for _, s := range streams {
			if m.Topic != topic(s.name, "detections") {
				continue
			}
			ds := detections(b, []mosquittotest.Message{m}, s.name)
			if len(ds) == 1 && ds[0].RunID == d.RunID() {
				k := key{s.name, ds[0].Seq}
				if _, dup := arrived[k]; !dup {
					arrived[k] = m.Received
				}
			}
		}
	}
	handled := func() map[string]float64 { return browsertest.Eval[map[string]float64](page, `window.__handled`) }
	all := func(h map[string]float64) bool {
		for k := range arrived {
			if _, ok := h[k.stream+"/"+strconv.FormatUint(k.seq, 10)]; !ok {
				return false
			}
		}
		return true
	}
	h := handled()
	for deadline := time.Now().Add(10 * time.Second); !all(h) && time.Now().Before(deadline); h = handled() {
		time.Sleep(50 * time.Millisecond)
	}
	var delays, sseDelays []float64
	missed := 0
	for k, at := range arrived {
		if t, ok := sse.get(k.stream + "/" + strconv.FormatUint(k.seq, 10)); ok {
			sseDelays = append(sseDelays, float64(t.Sub(at).Microseconds())/1000)
		}
		ms, ok := h[k.stream+"/"+strconv.FormatUint(k.seq, 10)]
		if !ok {
			missed++
			continue
		}
		delays = append(delays, ms-float64(at.UnixMicro())/1000)
	}
	if len(delays) == 0 {
		b.Fatalf("no detection reached the page (%d arrived on MQTT)", len(arrived))
	}
	slices.Sort(delays)
	q := func(p float64) float64 { return delays[max(0, int(p*float64(len(delays))+0.999999)-1)] }
	b.ReportMetric(q(0.50), "mqtt-to-page-p50-ms")
	b.ReportMetric(q(0.99), "mqtt-to-page-p99-ms")
	b.ReportMetric(delays[len(delays)-1], "mqtt-to-page-max-ms")
	b.ReportMetric(float64(missed), "missed")
	lag := browsertest.Eval[struct {
		MaxLag    float64 `json:"maxLag"`
		LongTasks int     `json:"longTasks"`
		LongestMS float64 `json:"longest"`
	}](page, `window.__lag`)
	b.ReportMetric(lag.MaxLag, "page-max-timer-lag-ms")
	b.ReportMetric(float64(lag.LongTasks), "page-long-tasks")
	if len(sseDelays) > 0 {
		// Where a slow one lost its time: before the page (the daemon's
		// event stream) or in the browser.
		slices.Sort(sseDelays)
		b.ReportMetric(sseDelays[max(0, int(0.99*float64(len(sseDelays))+0.999999)-1)], "mqtt-to-sse-client-p99-ms")
	}
	for i, v := range delays {
		if i >= len(delays)-5 {
			b.Logf("slowest: %.1f ms", v)
		}
	}
	b.Logf("%d detections from 4 streams with %d viewers: MQTT → page p50 %.1f ms, p99 %.1f ms, max %.1f ms, min %.1f ms; %d never handled by the page; page: %d long tasks (longest %.0f ms), timer late by up to %.0f ms; load average %s",
		len(delays)+missed, benchViewers, q(0.50), q(0.99), delays[len(delays)-1], delays[0], missed, lag.LongTasks, lag.LongestMS, lag.MaxLag, loadAverage())
	if errs := page.Errors(); len(errs) > 0 {
		b.Logf("console errors: %v", errs)
	}
}

// sseArrivals records when the first plain client got each detection
// event, by "stream/seq".
type sseArrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *sseArrivals) get(k string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[k]
	return t, ok
}

// lagJS notes, for reading a slow detection, whether the page's own work
// held its main thread (long tasks, over 50 ms each) or whether the
// renderer did not run at all (a 20 ms timer that fires late with no long
// task: the process waited for a CPU).
const lagJS = `(() => {
	const lag = window.__lag = {maxLag: 0, longTasks: 0, longest: 0};
	let last = performance.now();
	setInterval(() => { const now = performance.now(); lag.maxLag = Math.max(lag.maxLag, now - last - 20); last = now; }, 20);
	new PerformanceObserver((list) => {
		for (const e of list.getEntries()) { lag.longTasks++; lag.longest = Math.max(lag.longest, e.duration); }
	}).observe({type: "longtask"});
	return true;
})()`

// followEvents connects n plain SSE clients to url until the benchmark
// ends; the first notes when each detection event arrives, the others
// only read.
func followEvents(tb testing.TB, url string, n int) *sseArrivals {
	tb.Helper()
	arr := &sseArrivals{at: map[string]time.Time{}}
	var wg sync.WaitGroup
	// Registered first, so it runs after the streams' Close (cleanups run
	// last first), which ends the readers.
	tb.Cleanup(wg.Wait)
	for i := range n {
		s := ssetest.Open(tb, url, nil)
		wg.Add(1)
		go func(first bool) {
			defer wg.Done()
			for {
				e, ok := s.Next(time.Hour)
				if !ok {
					return
				}
				if !first || e.Kind != "detection" {
					continue
				}
				var ev struct {
					Stream string
					Seq    uint64
				}
				if json.Unmarshal([]byte(e.Data), &ev) == nil {
					arr.mu.Lock()
					arr.at[ev.Stream+"/"+strconv.FormatUint(ev.Seq, 10)] = time.Now()
					arr.mu.Unlock()
				}
			}
		}(i == 0)
	}
	return arr
}

// loadAverage is the machine's 1, 5 and 15-minute load, for reading a
// latency measured on a shared machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
