//go:build unix

package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/internal/synthbench"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

// garssldCommand runs garssld: the binary named by GARSSLD_BIN (make bench
// sets it to bin/garssld), else this test binary in its garssld role.
func garssldCommand(args ...string) *exec.Cmd {
	if bin := os.Getenv("GARSSLD_BIN"); bin != "" {
		return exec.Command(bin, args...)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GARSSLD_TEST_MAIN=1")
	return cmd
}

// runMeasured runs cmd to its end and returns its wall time and its own
// CPU time (user + system) and peak RSS from the kernel's accounting.
func runMeasured(b *testing.B, cmd *exec.Cmd) (wall, cpu time.Duration, maxRSSKiB int64) {
	b.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	wall = time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), ru.Maxrss
}

// serviceRecorder keeps, by request id, omnisim's simulated time of every
// answered request and the real time its handler took.
type serviceRecorder struct {
	mu        sync.Mutex
	sim, real map[string]float64
}

func (s *serviceRecorder) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sim, s.real = map[string]float64{}, map[string]float64{}
}

func (s *serviceRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		took := float64(time.Since(start)) / float64(time.Millisecond)
		ms, err := strconv.ParseFloat(w.Header().Get("X-Omnisim-Simulated-Ms"), 64)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sim[r.Header.Get("X-Request-Id")] = ms
		s.real[r.Header.Get("X-Request-Id")] = took
		s.mu.Unlock()
	})
}

// perSample adds up each sample's critical path through the GAR loop from
// its requests' times: max(locate, audio) + analysis + refine.
func (s *serviceRecorder) perSample(times map[string]float64) (samples int, sum, requests float64) {
	type stages struct{ locate, audio, analysis, refine float64 }
	by := map[string]*stages{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ms := range times {
		requests += ms
		parts := strings.Split(id, "/")
		// <node>/eval/<seq>/<stage>[/…]
		if len(parts) < 4 || parts[1] != "eval" {
			continue
		}
		st := by[parts[2]]
		if st == nil {
			st = &stages{}
			by[parts[2]] = st
		}
		switch parts[3] {
		case "locate":
			st.locate += ms
		case "audio":
			st.audio += ms
		case "analysis":
			st.analysis = max(st.analysis, ms)
		case "refine":
			st.refine = max(st.refine, ms)
		}
	}
	for _, st := range by {
		sum += max(st.locate, st.audio) + st.analysis + st.refine
	}
	return len(by), sum, requests
}

// BenchmarkEvalSynthetic runs `garssld eval --concurrency 8` as a process
// over 500 synthetic VGG-SS samples (frames and audio) against omnisim
// with its default, SIMULATED latency model (time scale 1). The ideal wall
// time is the sum of every sample's simulated service time (its critical
// path: max(locate, audio) + analysis + refine, queueing on the simulated
// GPU included) divided by the concurrency; wall/ideal shows what garssld
// adds. cpu-ms/sample is garssld's own CPU (user + system of its process:
// decoding inputs, JSON, HTTP, scoring, writing).
func BenchmarkEvalSynthetic(b *testing.B) {
	const n, concurrency = 500, 8
	bench := synthbench.Make(b, b.TempDir(), synthbench.Spec{Kind: "vggss", N: n})
	rec := &serviceRecorder{}
	sim, endpoint := omnisimtest.Serve(b, omnisim.DefaultConfig(), rec.wrap)

	b.ResetTimer()
	for range b.N {
		sim.ResetStats()
		sim.ResetCache()
		rec.reset()
		out := filepath.Join(b.TempDir(), "out")
		wall, cpu, rss := runMeasured(b, garssldCommand("eval", "--dataset", "vggss", "--annotations", bench.Annotations,
			"--frames", bench.Frames, "--audio", bench.Audio, "--out", out, "--endpoint", endpoint,
			"--concurrency", strconv.Itoa(concurrency), "--log-level", "error"))
		done, sum, requests := rec.perSample(rec.sim)
		_, sumReal, _ := rec.perSample(rec.real)
		stats := sim.Stats()
		if done != n || stats.Requests == 0 {
			b.Fatalf("%d samples reached omnisim, want %d", done, n)
		}
		ideal := time.Duration(sum / concurrency * float64(time.Millisecond))
		// Σ latency_ms.total / concurrency: the wall time if the slots
		// never idled; the rest of wall − ideal is spent inside samples
		// (HTTP, JSON, waiting for CPU).
		busy := time.Duration(sumLatencyMS(b, filepath.Join(out, "samples.jsonl")) / concurrency * float64(time.Millisecond))
		b.ReportMetric(float64(n)/wall.Seconds(), "samples/s")
		b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms/sample")
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
		b.ReportMetric(float64(rss)/1024, "peak-rss-MB")
		b.Logf("SIMULATED latency (omnisim default model): %d samples, concurrency %d: wall %.1f s, ideal %.1f s "+
			"(Σ per-sample service %.1f s / %d), wall/ideal %.4f; %.2f samples/s; garssld CPU %.1f s = %.2f ms/sample; "+
			"peak RSS %.0f MB; omnisim: %d requests, %.1f s simulated in total (recorded %.1f s); "+
			"Σ sample latency / %d = %.1f s; Σ per-sample real handler time / %d = %.1f s",
			n, concurrency, wall.Seconds(), ideal.Seconds(), sum/1000, concurrency, wall.Seconds()/ideal.Seconds(),
			float64(n)/wall.Seconds(), cpu.Seconds(), float64(cpu.Milliseconds())/n, float64(rss)/1024,
			stats.Requests, stats.SimulatedMs/1000, requests/1000, concurrency, busy.Seconds(),
			concurrency, sumReal/1000/concurrency)
	}
}

// BenchmarkScoreProcess runs `garssld score` as a process on one
// prediction for each of the 5,158 clips of the real vggss.json, per
// protocol; ns/op is the whole process's wall time (goal: ≤ 5 s).
func BenchmarkScoreProcess(b *testing.B) {
	ann, err := dataset.Load(dataset.VGGSS, realVGGSSPath())
	if err != nil {
		b.Fatal(err)
	}
	predictions := filepath.Join(b.TempDir(), "samples.jsonl")
	synthbench.WritePredictions(b, predictions, ann, 1)
	for _, protocol := range []string{"gar", "standard"} {
		b.Run(protocol, func(b *testing.B) {
			var cpu time.Duration
			var rss int64
			for range b.N {
				_, c, r := runMeasured(b, garssldCommand("score", "--dataset", "vggss", "--annotations", realVGGSSPath(),
					"--predictions", predictions, "--protocol", protocol))
				cpu += c
				rss = max(rss, r)
			}
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(rss)/1024, "peak-rss-MB")
		})
	}
}

// sumLatencyMS adds up latency_ms.total over a samples.jsonl.
func sumLatencyMS(b *testing.B, path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	content, err := samples.Read(f, path)
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, r := range content.Records {
		sum += float64(r.Pred.LatencyMS.Total)
	}
	return sum
}
