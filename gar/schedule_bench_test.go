//go:build unix

package gar_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

// benchTimeScale multiplies omnisim's simulated latencies into real sleeps.
// At 1 the measured wall latency needs no scaling back, and client-side
// overheads are not magnified; the whole run stays well under a minute.
const benchTimeScale = 1.0

// cpuWindows is how many windows the own-CPU calibration runs per
// measurement: enough that getrusage's granularity does not matter.
const cpuWindows = 32

// BenchmarkSchedule measures one window of the GAR loop (N = 5 trials, K = 1)
// in four cells, changing one factor at a time: the schedule (the authors'
// sequential one, or garssld's parallel one) and omnisim's prefix cache (off,
// or on as in vLLM), against omnisim's default latency model: base 10 ms +
// 0.5 ms per computed prompt token + 6 ms per decoded token. Every
// millisecond here comes from that simulated model, not from a GPU. By its
// arithmetic an uncached request of the loop costs about 0.5 s: audio ≈
// 0.24 s (290 prompt, 14 answer tokens), locate ≈ 0.37 s (410, 25), an
// analysis trial ≈ 0.58 s (590, 45), refine ≈ 0.75 s (640, 70).
//
//   - sequential/cache=off: every request after the previous one, trials as
//     five requests, no prefix cache: what the reference implementation ran.
//   - sequential/cache=on: the same schedule on a server with a prefix cache.
//   - parallel/cache=off: locate ∥ audio, the trials as one request with
//     n = 5, no prefix cache.
//   - parallel/cache=on: garssld on vLLM.
//
// Every window has its own media (one pixel differs) and the prefix cache is
// emptied before each window, so caching helps only within a window; all
// cells see the same windows, hence the same answers and gate decisions.
//
// Metrics per window:
//   - sim-ms/window: mean wall time of Localize (the critical path); with
//     benchTimeScale = 1 real and simulated milliseconds are equal.
//   - prefill-tokens/window: prompt − cached tokens the server computed,
//     from omnisim's Stats over the measured windows.
//   - requests/window and sim-ms/request: for reading the two above.
//   - own-cpu-ms/window: see measureOwnCPU (real CPU, not simulated).
func BenchmarkSchedule(b *testing.B) {
	type variant struct {
		name        string
		cfg         gar.Config
		prefixCache bool
	}
	var variants []variant
	for _, sched := range []struct {
		name string
		cfg  gar.Config
	}{
		{"sequential", gar.Config{Schedule: gar.ScheduleSequential, SupportsN: false}},
		{"parallel", gar.Config{Schedule: gar.ScheduleParallel, SupportsN: true}},
	} {
		for _, cache := range []bool{false, true} {
			name := sched.name + "/cache=off"
			if cache {
				name = sched.name + "/cache=on"
			}
			variants = append(variants, variant{name, sched.cfg, cache})
		}
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			simCfg := omnisim.DefaultConfig()
			simCfg.PrefixCache = v.prefixCache
			simCfg.TimeScale = benchTimeScale
			srv, url := omnisimtest.Serve(b, simCfg, nil)
			l := newLocalizer(b, v.cfg, newClient(b, clientConfigFor(url)))
			inputs := benchInputs(b, b.N, 1)

			srv.ResetStats()
			var wall time.Duration
			b.ResetTimer()
			for i := range b.N {
				srv.ResetCache()
				began := time.Now()
				res := l.Localize(context.Background(), inputs[i])
				wall += time.Since(began)
				if res.Status != gar.StatusOK {
					b.Fatalf("window %d: status %s: %v", i, res.Status, res.Err)
				}
			}
			b.StopTimer()
			st := srv.Stats()
			windows := float64(b.N)
			b.ReportMetric(float64(wall.Microseconds())/1000/benchTimeScale/windows, "sim-ms/window")
			b.ReportMetric(float64(st.ComputedPrefillTokens)/windows, "prefill-tokens/window")
			b.ReportMetric(float64(st.Requests)/windows, "requests/window")
			b.ReportMetric(st.SimulatedMs/float64(max(st.Requests, 1)), "sim-ms/request")
			b.ReportMetric(measureOwnCPU(b, v.cfg, simCfg), "own-cpu-ms/window")
		})
	}
}

// benchInputs builds n windows with distinct media, numbered from first.
func benchInputs(tb testing.TB, n, first int) []gar.Input {
	inputs := make([]gar.Input, n)
	for i := range inputs {
		inputs[i] = testInput(tb, first+i, first+i)
	}
	return inputs
}

// measureOwnCPU returns garssld's CPU time per window in milliseconds.
//
// Method: the process's CPU time (getrusage: user + system, all threads)
// over cpuWindows windows run through the same Localizer configuration and
// a real mllm client over loopback HTTP, but against a canned model that
// replays answers omnisim gave to one recorded window instead of omnisim
// itself. The replay server only drains each request body and writes stored
// bytes, so nearly all CPU left is garssld's: prompt rendering, base64 of
// the media, request bodies, net/http client work, answer parsing,
// consensus, geometry and the garbage collection all that causes. The
// server's small share (reading bodies, HTTP framing, loopback syscalls on
// its side) is included, which makes this an upper bound. The benchmark
// timer is stopped while it runs.
func measureOwnCPU(b *testing.B, cfg gar.Config, simCfg omnisim.Config) float64 {
	b.Helper()
	simCfg.TimeScale = 0
	canned := &cannedModel{answers: map[string][]byte{}}
	_, url := omnisimtest.Serve(b, simCfg, func(next http.Handler) http.Handler { canned.next = next; return canned })
	l := newLocalizer(b, cfg, newClient(b, clientConfigFor(url)))

	// Window 0 records the answers; two more warm the connections up.
	inputs := benchInputs(b, cpuWindows+3, 100000)
	run := func(in gar.Input) {
		if res := l.Localize(context.Background(), in); res.Status != gar.StatusOK {
			b.Fatalf("own-CPU window %s: status %s: %v", in.RequestID, res.Status, res.Err)
		}
	}
	run(inputs[0])
	canned.replay()
	run(inputs[1])
	run(inputs[2])

	runtime.GC()
	before := processCPU(b)
	for _, in := range inputs[3:] {
		run(in)
	}
	used := processCPU(b) - before
	return float64(used.Microseconds()) / 1000 / cpuWindows
}

// processCPU is the CPU time this process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cannedModel first passes chat requests to next and keeps its answers by
// the stage part of the request id (…/<seq>/analysis/t3 → analysis/t3);
// after replay it answers from what it kept without asking next.
type cannedModel struct {
	next http.Handler

	mu        sync.Mutex
	answers   map[string][]byte
	replaying bool
}

func (c *cannedModel) replay() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replaying = true
}

func (c *cannedModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := stagePart(r.Header.Get("X-Request-Id"))
	c.mu.Lock()
	replaying, answer := c.replaying, c.answers[key]
	c.mu.Unlock()

	if !replaying {
		rec := httptest.NewRecorder()
		c.next.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			c.mu.Lock()
			c.answers[key] = rec.Body.Bytes()
			c.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	// A real server reads the whole body before answering, and so must this
	// one, or the client's write would be cut short.
	_, _ = io.Copy(io.Discard, r.Body)
	if answer == nil {
		http.Error(w, fmt.Sprintf("no recorded answer for %q", key), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// stagePart drops the <node>/<stream>/<seq>/ prefix of a request id.
func stagePart(id string) string {
	parts := strings.SplitN(id, "/", 4)
	return parts[len(parts)-1]
}
