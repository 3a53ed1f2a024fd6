package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/report"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/internal/schematest"
	"github.com/garssl/garssld/internal/synthbench"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
)

// TestMain lets a test run garssld as a child process (to kill it).
func TestMain(m *testing.M) {
	if os.Getenv("GARSSLD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// startSim serves omnisim for one test; truth is a sidecar path or "".
func startSim(t testing.TB, truth string, edit func(*omnisim.Config)) (*omnisim.Server, string) {
	t.Helper()
	cfg := omnisim.DefaultConfig()
	cfg.TimeScale = 0
	cfg.TruthFile = truth
	if edit != nil {
		edit(&cfg)
	}
	return omnisimtest.Serve(t, cfg, nil)
}

// reportOf decodes a report as a generic object; strip removes the members
// that measure time.
func reportOf(t *testing.T, data []byte, strip bool) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("not a report: %v\n%s", err, data)
	}
	if strip {
		for _, k := range []string{"timing", "latency_ms_p50", "latency_ms_p95"} {
			delete(m, k)
		}
	}
	return m
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func num(t *testing.T, r map[string]any, key string) float64 {
	t.Helper()
	v, ok := r[key].(float64)
	if !ok {
		t.Fatalf("report has no number %q: %v", key, r[key])
	}
	return v
}

// validateLines checks every line of samples.jsonl against its schema.
func validateLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := samples.Schema()
	if err != nil {
		t.Fatal(err)
	}
	sch := schematest.Compile(t, raw)
	var lines []map[string]any
	for i, l := range strings.Split(strings.TrimSpace(string(readFile(t, path))), "\n") {
		if err := schematest.Validate(sch, []byte(l)); err != nil {
			t.Errorf("line %d does not match the sample schema: %v", i+1, err)
		}
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		lines = append(lines, m)
	}
	return lines
}

func score(t *testing.T, kind, annotations, predictions, protocol string) []byte {
	t.Helper()
	code, stdout, stderr := run(t, "score", "--dataset", kind, "--annotations", annotations, "--predictions", predictions, "--protocol", protocol)
	if code != 0 {
		t.Fatalf("score exit %d: %s", code, stderr)
	}
	return []byte(stdout)
}

// TestEvalTruth runs synthetic benchmarks against omnisim in truth mode,
// which finds the coloured objects by colour: every sample must be found.
func TestEvalTruth(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		n          int
		videos     bool
	}{
		{"vggss frames", "vggss", 12, false},
		{"music-solo frames (audio id drops 10 characters)", "music-solo", 8, false},
		{"vggss-duet composites at 448x224", "vggss-duet", 8, false},
		{"music-duet", "music-duet", 4, false},
		{"vggss videos", "vggss", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := synthbench.Spec{Kind: tc.kind, N: tc.n}
			if tc.videos {
				spec.Videos = tc.n
			}
			b := synthbench.Make(t, t.TempDir(), spec)
			_, endpoint := startSim(t, b.Truth, nil)
			out := t.TempDir()
			args := []string{"eval", "--dataset", tc.kind, "--annotations", b.Annotations, "--out", out, "--endpoint", endpoint, "--vis", "--concurrency", "3"}
			if tc.videos {
				args = append(args, "--videos", b.Videos)
			} else {
				args = append(args, "--frames", b.Frames, "--audio", b.Audio)
			}
			code, stdout, stderr := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "report: "+out+"/report.md") || !strings.Contains(stderr, fmt.Sprintf("eval: %d/%d samples (100%%)", tc.n, tc.n)) {
				t.Errorf("stdout %q, stderr %q", stdout, stderr)
			}
			r := reportOf(t, readFile(t, filepath.Join(out, "report.json")), false)
			if num(t, r, "ciou_at_0_5") != 1 || num(t, r, "ciou_mean") < 0.95 || num(t, r, "n_failed") != 0 || num(t, r, "n_samples") != float64(tc.n) {
				t.Errorf("gar: ciou_at_0_5 %v, ciou_mean %v, n_failed %v, n_samples %v", r["ciou_at_0_5"], r["ciou_mean"], r["n_failed"], r["n_samples"])
			}
			t.Logf("gar: ciou_mean %.4f ap %.4f auc %.4f", r["ciou_mean"], r["ap"], r["auc"])
			std := reportOf(t, score(t, tc.kind, b.Annotations, filepath.Join(out, "samples.jsonl"), "standard"), false)
			if num(t, std, "ciou_at_0_5") != 1 || num(t, std, "ciou_mean") < 0.9 {
				t.Errorf("standard: ciou_at_0_5 %v, ciou_mean %v", std["ciou_at_0_5"], std["ciou_mean"])
			}
			t.Logf("standard: ciou_mean %.4f", std["ciou_mean"])
			lines := validateLines(t, filepath.Join(out, "samples.jsonl"))
			if len(lines) != tc.n {
				t.Fatalf("%d lines", len(lines))
			}
			for _, l := range lines {
				frame := l["frame"].(map[string]any)
				wantW, wantMW := 320.0, 224.0
				if strings.HasSuffix(tc.kind, "duet") {
					wantW, wantMW = 448, 448
				}
				if frame["width"] != wantW || frame["model_width"] != wantMW || frame["model_height"] != 224.0 {
					t.Errorf("%s: frame %v", l["sample"], frame)
				}
				if len(l["sources"].([]any)) != map[bool]int{true: 2, false: 1}[strings.HasSuffix(tc.kind, "duet")] {
					t.Errorf("%s: %d sources", l["sample"], len(l["sources"].([]any)))
				}
				// design §3.4's thresholds for the benchmark.
				tau := map[string][2]float64{"vggss": {0.5, 0.5}, "music-solo": {0.75, 0.75}, "vggss-duet": {0.75, 0.75}, "music-duet": {0.75, 0.5}}[tc.kind]
				if g := l["gar"].(map[string]any); g["tau_av"] != tau[0] || g["tau_audio"] != tau[1] {
					t.Errorf("%s: gate thresholds %v/%v, want %v", l["sample"], g["tau_av"], g["tau_audio"], tau)
				}
			}
			visFiles, _ := filepath.Glob(filepath.Join(out, "vis", "*.jpg"))
			if len(visFiles) != tc.n {
				t.Errorf("%d pictures in vis/", len(visFiles))
			}
			md := string(readFile(t, filepath.Join(out, "report.md")))
			if !strings.Contains(md, "GAR paper (Qwen2.5-Omni-7B, N = 5)") || !strings.Contains(md, "| analysis trials N | 5 |") {
				t.Errorf("report.md:\n%s", md)
			}
			if _, err := os.Stat(filepath.Join(out, "success_curve.png")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEvalNoiseMatchesScore: against a seeded omnisim that sometimes
// answers garbage or fails, with a missing and a broken input, eval's
// report is what score computes from the same samples.jsonl.
func TestEvalNoiseMatchesScore(t *testing.T) {
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: 30})
	os.Remove(filepath.Join(b.Frames, b.IDs[4]+".jpg"))
	os.WriteFile(filepath.Join(b.Frames, b.IDs[7]+".jpg"), []byte("\xff\xd8 not really a JPEG"), 0o644)
	_, endpoint := startSim(t, "", func(c *omnisim.Config) {
		c.Seed = 11
		c.Faults.GarbageRate = 0.15
		c.Faults.ErrorRate = 0.05
	})
	out := t.TempDir()
	eval := func(protocol string) {
		code, _, stderr := run(t, "eval", "--dataset", "vggss", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio,
			"--out", out, "--endpoint", endpoint, "--protocol", protocol, "--concurrency", "4")
		if code != 0 {
			t.Fatalf("eval exit %d: %s", code, stderr)
		}
	}
	eval("gar")
	predictions := filepath.Join(out, "samples.jsonl")
	got := reportOf(t, readFile(t, filepath.Join(out, "report.json")), true)
	want := reportOf(t, score(t, "vggss", b.Annotations, predictions, "gar"), true)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eval's report differs from score's:\neval:  %v\nscore: %v", got, want)
	}
	t.Logf("gar: n_failed %v %v, ciou_mean %.4f (successful only %.4f), ciou_at_0_5 %.4f, ap %.4f, auc %.4f",
		got["n_failed"], got["failed_by_reason"], got["ciou_mean"], got["ciou_mean_successful_only"], got["ciou_at_0_5"], got["ap"], got["auc"])
	reasons := got["failed_by_reason"].(map[string]any)
	if reasons["missing_input"] != 1.0 || reasons["bad_input"] != 1.0 || num(t, got, "n_failed") < 3 {
		t.Errorf("failures: %v", reasons)
	}
	if num(t, got, "ciou_mean_successful_only") <= num(t, got, "ciou_mean") || num(t, got, "n_samples") != 30 {
		t.Errorf("successful-only %v vs %v", got["ciou_mean_successful_only"], got["ciou_mean"])
	}
	// The same run scored under the other protocol, by eval (nothing left
	// to do, so it only rescores) and by score.
	lines := readFile(t, predictions)
	eval("standard")
	if !bytes.Equal(lines, readFile(t, predictions)) {
		t.Fatal("a rerun with every sample done changed samples.jsonl")
	}
	got = reportOf(t, readFile(t, filepath.Join(out, "report.json")), true)
	want = reportOf(t, score(t, "vggss", b.Annotations, predictions, "standard"), true)
	if !reflect.DeepEqual(got, want) || got["protocol"] != "standard" {
		t.Errorf("standard: eval's report differs from score's:\neval:  %v\nscore: %v", got, want)
	}
	validateLines(t, predictions)
}

// child starts garssld as a process.
func child(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GARSSLD_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &stderr
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// TestEvalKilledAndResumed stops a real garssld process mid-run (SIGKILL,
// then a torn last line; SIGINT) and resumes it; the report equals an
// uninterrupted run's.
func TestEvalKilledAndResumed(t *testing.T) {
	const n = 24
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: n})
	// Slow enough to stop mid-run: about 160 ms a sample.
	_, endpoint := startSim(t, "", func(c *omnisim.Config) { c.Seed = 5; c.TimeScale = 0.1 })
	args := func(out string) []string {
		return []string{"eval", "--dataset", "vggss", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio,
			"--out", out, "--endpoint", endpoint, "--concurrency", "2", "--protocol", "standard"}
	}
	ref := t.TempDir()
	if code, _, stderr := run(t, args(ref)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}
	want := reportOf(t, readFile(t, filepath.Join(ref, "report.json")), true)

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			samplesPath := filepath.Join(out, "samples.jsonl")
			cmd, stderr := child(t, args(out)...)
			deadline := time.Now().Add(2 * time.Minute)
			for countLines(samplesPath) < 6 {
				if time.Now().After(deadline) {
					t.Fatalf("no progress: %s", stderr)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			done := countLines(samplesPath)
			if done >= n {
				t.Fatalf("the run finished (%d lines) before it was stopped; slow omnisim down", done)
			}
			if sig == syscall.SIGINT {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "interrupted") {
					t.Fatalf("after SIGINT: %v\n%s", err, stderr)
				}
				if _, err := os.Stat(filepath.Join(out, "report.json")); err == nil {
					t.Error("an interrupted run wrote a report")
				}
			} else {
				// SIGKILL can tear the line being written; make sure one is.
				data := readFile(t, samplesPath)
				last := bytes.LastIndexByte(data[:len(data)-1], '\n')
				torn := append(data, data[last+1:last+1+(len(data)-last)/2]...)
				if err := os.WriteFile(samplesPath, torn, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, _, errOut := run(t, args(out)...)
			if code != 0 {
				t.Fatalf("resumed run: exit %d: %s", code, errOut)
			}
			if sig == syscall.SIGKILL && !strings.Contains(errOut, "half-written") {
				t.Errorf("the torn line was not reported: %s", errOut)
			}
			r := readReport(t, filepath.Join(out, "report.json"))
			if r.Timing.ResumedSamples != done || r.Timing.RanSamples != n-done {
				t.Errorf("resumed %d and ran %d, want %d and %d", r.Timing.ResumedSamples, r.Timing.RanSamples, done, n-done)
			}
			got := reportOf(t, readFile(t, filepath.Join(out, "report.json")), true)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("resumed report differs from an uninterrupted run's:\nresumed:       %v\nuninterrupted: %v", got, want)
			}
			if lines := validateLines(t, samplesPath); len(lines) != n {
				t.Errorf("%d lines", len(lines))
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: 3})
	_, endpoint := startSim(t, "", nil)
	dir := t.TempDir()
	music := filepath.Join(dir, "music.json")
	os.WriteFile(music, []byte(`[{"file":"a","class":"c","bbox":[0.1,0.2,0.3,0.4]}]`), 0o644)
	stray := t.TempDir()
	os.WriteFile(filepath.Join(stray, "samples.jsonl"), []byte(`{"sample":"zzz_999999","status":"input_error","failure":{"reason":"missing_input","error":""}}`+"\n"), 0o644)
	common := func(extra ...string) []string {
		return append([]string{"--dataset", "vggss", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio, "--endpoint", endpoint}, extra...)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no flags", nil, 2, "--dataset, --annotations and --out are required"},
		{"unknown dataset", []string{"--dataset", "vgg", "--annotations", b.Annotations, "--out", dir, "--videos", dir}, 2, "music-duet"},
		{"unknown protocol", common("--out", t.TempDir(), "--protocol", "lvs"), 2, `protocol "lvs"`},
		{"both layouts", common("--out", t.TempDir(), "--videos", dir), 2, "not both"},
		{"frames directory missing", []string{"--dataset", "vggss", "--annotations", b.Annotations, "--frames", filepath.Join(dir, "nope"), "--audio", b.Audio, "--out", t.TempDir()}, 2, "nope"},
		{"annotations missing", []string{"--dataset", "vggss", "--annotations", filepath.Join(dir, "none.json"), "--videos", dir, "--out", t.TempDir()}, 2, "none.json"},
		{"annotations of another benchmark", []string{"--dataset", "vggss", "--annotations", music, "--videos", dir, "--out", t.TempDir()}, 2, "--dataset music-solo"},
		{"gate threshold out of range", common("--out", t.TempDir(), "--tau-av", "1.5"), 2, "--tau-av 1.5"},
		{"concurrency 0", common("--out", t.TempDir(), "--concurrency", "0"), 2, "--concurrency"},
		{"unknown sample in samples.jsonl", common("--out", stray), 2, `"zzz_999999"`},
		{"no frame for any sample", []string{"--dataset", "vggss", "--annotations", b.Annotations, "--frames", dir, "--audio", b.Audio, "--endpoint", endpoint, "--out", t.TempDir()}, 2, "none of the 3 samples"},
		{"bad config", common("--out", t.TempDir(), "--config", music), 2, "music.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"eval"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s%s", code, tc.code, tc.inStderr, stdout, stderr)
			}
		})
	}
	t.Run("model server unreachable", func(t *testing.T) {
		many := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: 24})
		out := t.TempDir()
		code, _, stderr := run(t, "eval", "--dataset", "vggss", "--annotations", many.Annotations, "--frames", many.Frames, "--audio", many.Audio,
			"--out", out, "--endpoint", "http://127.0.0.1:1/v1", "--concurrency", "2")
		if code != 1 || !strings.Contains(stderr, "model server unavailable") || !strings.Contains(stderr, "run the same command again") {
			t.Errorf("exit %d:\n%s", code, stderr)
		}
		if n := countLines(filepath.Join(out, "samples.jsonl")); n != 0 {
			t.Errorf("%d samples recorded against a dead server", n)
		}
	})
}

func realVGGSSPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vggss", "vggss.json")
}

// TestScore scores predictions for all 5,158 clips of the real vggss.json
// under both protocols, and refuses what it cannot score.
func TestScore(t *testing.T) {
	ann, err := dataset.Load(dataset.VGGSS, realVGGSSPath())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	predictions := filepath.Join(dir, "samples.jsonl")
	synthbench.WritePredictions(t, predictions, ann, 1)
	for _, protocol := range []string{"gar", "standard"} {
		r := reportOf(t, score(t, "vggss", realVGGSSPath(), predictions, protocol), false)
		if num(t, r, "n_samples") != 5158 || num(t, r, "n_failed") != 515 || r["protocol"] != protocol || r["timing"] != nil {
			t.Errorf("%s: %v", protocol, r)
		}
		if v := num(t, r, "ciou_at_0_5_successful_only"); v < 0.8 {
			t.Errorf("%s: jittered GT boxes give ciou_at_0_5_successful_only %v", protocol, v)
		}
	}
	data := readFile(t, predictions)
	firstLine := data[:bytes.IndexByte(data, '\n')+1]
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		return p
	}
	unknown := bytes.Replace(firstLine, []byte(ann.Samples[0].ID), []byte("nobody_000000"), 1)
	for _, tc := range []struct {
		name, predictions string
		extra             []string
		inStderr          string
	}{
		{"unknown sample", write("unknown.jsonl", append(append([]byte{}, firstLine...), unknown...)), nil, `sample "nobody_000000" is not in`},
		{"half-written last line", write("torn.jsonl", append(append([]byte{}, firstLine...), firstLine[:100]...)), nil, "line 2 is incomplete"},
		{"empty", write("empty.jsonl", nil), nil, "holds no predictions"},
		{"missing", filepath.Join(dir, "nope.jsonl"), nil, "nope.jsonl"},
		{"damaged line", write("damaged.jsonl", append(append([]byte("{\"sample\":\n"), firstLine...), firstLine...)), nil, "line 1"},
		{"unknown protocol", predictions, []string{"--protocol", "cvpr"}, `protocol "cvpr"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"score", "--dataset", "vggss", "--annotations", realVGGSSPath(), "--predictions", tc.predictions}, tc.extra...)...)
			if code != 2 || !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("exit %d, stderr lacks %q: %s", code, tc.inStderr, stderr)
			}
		})
	}
}

func readReport(t *testing.T, path string) report.Report {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal(readFile(t, path), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEvalSettings: the benchmark's gate thresholds of design §3.4 apply
// unless the config or a flag sets them, and the request cap follows the
// concurrency unless the config sets it.
func TestEvalSettings(t *testing.T) {
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "music-duet", N: 2})
	_, endpoint := startSim(t, b.Truth, nil)
	dir := t.TempDir()
	cfgWith := func(body string) string {
		p := filepath.Join(dir, fmt.Sprintf("c%d.hcl", len(body)))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name          string
		extra         []string
		av, audio     float64
		maxInFlight   string
		sourcePhrases []string
	}{
		{"benchmark defaults", nil, 0.75, 0.50, "6 samples, 12 requests per endpoint", []string{"τ_av from design §3.4 for MUSIC-Duet"}},
		{"config sets τ_av and the cap", []string{"--config", cfgWith("gar {\n  tau_av = 0.6\n}\nmllm {\n  max_in_flight = 3\n}\n")}, 0.6, 0.50, "6 samples, 3 requests per endpoint",
			[]string{"τ_av from the config", "τ_audio from design §3.4"}},
		{"flags win", []string{"--config", cfgWith("gar {\n  tau_av = 0.6\n  tau_audio = 0.1\n}\n"), "--tau-av", "0.3", "--tau-audio", "0.9"}, 0.3, 0.9, "",
			[]string{"τ_av from the flag", "τ_audio from the flag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"eval", "--dataset", "music-duet", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio,
				"--out", out, "--endpoint", endpoint, "--concurrency", "6"}, tc.extra...)
			if code, _, stderr := run(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, l := range validateLines(t, filepath.Join(out, "samples.jsonl")) {
				g := l["gar"].(map[string]any)
				if g["tau_av"] != tc.av || g["tau_audio"] != tc.audio || g["analysis_trials"] != 5.0 {
					t.Errorf("%s: gar %v, want τ %v/%v and N = 5", l["sample"], g, tc.av, tc.audio)
				}
			}
			md := string(readFile(t, filepath.Join(out, "report.md")))
			for _, p := range append(tc.sourcePhrases, tc.maxInFlight, "| silence gate | off") {
				if !strings.Contains(md, p) {
					t.Errorf("report.md lacks %q", p)
				}
			}
		})
	}
}

// A resume refuses (exit 2) a samples.jsonl made with other settings,
// naming each difference, and leaves it alone; --restart starts over with
// the new settings, which a later resume accepts. A file whose lines
// record no settings (written by an older garssld) cannot be checked and
// is refused the same way.
func TestEvalResumeRefusesOtherSettings(t *testing.T) {
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: 3})
	_, endpoint := startSim(t, b.Truth, nil)
	other := filepath.Join(t.TempDir(), "other.hcl")
	if err := os.WriteFile(other, []byte("mllm {\n  model = \"Qwen/Qwen2.5-Omni-3B\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	samplesPath := filepath.Join(out, "samples.jsonl")
	args := func(extra ...string) []string {
		return append([]string{"eval", "--dataset", "vggss", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio,
			"--out", out, "--endpoint", endpoint}, extra...)
	}
	if code, _, stderr := run(t, args()...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	for _, l := range validateLines(t, samplesPath) {
		s, _ := l["settings"].(map[string]any)
		if s["model"] != "Qwen/Qwen2.5-Omni-7B" || s["tau_av"] != 0.5 || s["inputs"] != "frames" {
			t.Errorf("line %s records the settings %v", l["sample"], s)
		}
	}
	before := readFile(t, samplesPath)

	changed := args("--config", other, "--tau-av", "0.3")
	code, _, stderr := run(t, changed...)
	for _, want := range []string{`model "Qwen/Qwen2.5-Omni-7B" → "Qwen/Qwen2.5-Omni-3B" (3 lines, 1 to 3)`, "tau_av 0.5 → 0.3 (3 lines, 1 to 3)", "--restart"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refusal does not say %q", want)
		}
	}
	if code != 2 || strings.Contains(stderr, "tau_audio") {
		t.Errorf("resume with another model and τ_av: exit %d, want 2 naming only what changed:\n%s", code, stderr)
	}
	if !bytes.Equal(readFile(t, samplesPath), before) {
		t.Error("the refused resume changed samples.jsonl")
	}

	if code, _, stderr := run(t, append(changed, "--restart")...); code != 0 {
		t.Fatalf("--restart: exit %d: %s", code, stderr)
	}
	if r := readReport(t, filepath.Join(out, "report.json")); r.Timing.RanSamples != 3 || r.Timing.ResumedSamples != 0 {
		t.Errorf("--restart ran %d and resumed %d samples, want 3 and 0", r.Timing.RanSamples, r.Timing.ResumedSamples)
	}
	for _, l := range validateLines(t, samplesPath) {
		s, _ := l["settings"].(map[string]any)
		if s["model"] != "Qwen/Qwen2.5-Omni-3B" || s["tau_av"] != 0.3 {
			t.Errorf("after --restart, line %s records %v", l["sample"], s)
		}
	}
	if code, _, stderr := run(t, changed...); code != 0 {
		t.Errorf("resume with the same settings: exit %d: %s", code, stderr)
	} else if r := readReport(t, filepath.Join(out, "report.json")); r.Timing.ResumedSamples != 3 {
		t.Errorf("resume with the same settings resumed %d samples, want 3", r.Timing.ResumedSamples)
	}

	// Lines of an older garssld, without "settings".
	var old []byte
	for _, l := range bytes.SplitAfter(readFile(t, samplesPath), []byte("\n")) {
		if i := bytes.Index(l, []byte(`,"settings":`)); i >= 0 {
			l = append(l[:i:i], "}\n"...)
		}
		old = append(old, l...)
	}
	if err := os.WriteFile(samplesPath, old, 0o644); err != nil {
		t.Fatal(err)
	}
	validateLines(t, samplesPath)
	if code, _, stderr := run(t, changed...); code != 2 || !strings.Contains(stderr, "no recorded settings to compare with (3 lines, 1 to 3") {
		t.Errorf("resume of lines without settings: exit %d, want 2:\n%s", code, stderr)
	}
}
