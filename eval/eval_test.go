package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/garssl/garssld/capture"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/metrics"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/synthbench"
	"github.com/garssl/garssld/internal/testmedia"
)

// fakeLocalizer answers a fixed box, or what answer says for a request id.
type fakeLocalizer struct {
	answer func(ctx context.Context, in gar.Input) gar.Result
	calls  atomic.Int64
}

func (f *fakeLocalizer) Localize(ctx context.Context, in gar.Input) gar.Result {
	f.calls.Add(1)
	if f.answer != nil {
		return f.answer(ctx, in)
	}
	return okResult(in)
}

func okResult(in gar.Input) gar.Result {
	b := gar.Box{10, 10, 100, 100}
	return gar.Result{Status: gar.StatusOK, GAR: gar.GARInfo{Requests: 4}, Sources: []gar.SourceResult{{
		BBoxModel: b, InitialBBoxModel: b, BBox: gar.ToFrame(b, in.ModelWidth, in.ModelHeight, in.FrameWidth, in.FrameHeight),
		BBoxNorm: gar.ToNorm(b, in.ModelWidth, in.ModelHeight), Label: "beep", RoleTags: []string{}, Anchors: []gar.Anchor{},
	}}}
}

func unavailable(error) gar.Result {
	return gar.Result{Status: gar.StatusMLLMUnavailable, Err: errors.New("connection refused")}
}

func bench(t *testing.T, n int) (*synthbench.Bench, *dataset.Annotations) {
	t.Helper()
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: n})
	ann, err := dataset.Load(dataset.VGGSS, b.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	return b, ann
}

func options(b *synthbench.Bench, ann *dataset.Annotations, loc Localizer, out string) Options {
	return Options{Annotations: ann, Layout: Layout{Frames: b.Frames, Audio: b.Audio}, Out: out,
		Protocol: metrics.ProtocolGAR, Concurrency: 3, Localizer: loc, Decoder: capture.Files{}, NodeID: "test", ModelSize: 224, SampleDeadline: time.Minute}
}

func readLines(t *testing.T, out string) samples.File {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, SamplesFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := samples.Read(bytes.NewReader(data), "samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRunResumesAndRetries(t *testing.T) {
	b, ann := bench(t, 10)
	out := t.TempDir()
	// The first run fails sample 3 with an unparseable answer and does the first 6.
	loc := &fakeLocalizer{answer: func(_ context.Context, in gar.Input) gar.Result {
		if strings.HasSuffix(in.RequestID, "/eval/4") {
			return gar.Result{Status: gar.StatusInvalidModelOutput, Err: errors.New("locate answer: no box")}
		}
		return okResult(in)
	}}
	o := options(b, ann, loc, out)
	o.Limit = 6
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.NSamples != 6 || r.NFailed != 1 || r.FailedByReason["invalid_model_output"] != 1 || loc.calls.Load() != 6 {
		t.Fatalf("first run: %d samples, %d failed (%v), %d calls", r.NSamples, r.NFailed, r.FailedByReason, loc.calls.Load())
	}
	// A rerun without a limit does only the 4 samples not yet done.
	loc.calls.Store(0)
	o.Limit = 0
	if r, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if loc.calls.Load() != 4 || r.NSamples != 10 || r.NFailed != 1 || r.Timing.ResumedSamples != 6 || r.Timing.RanSamples != 4 {
		t.Fatalf("resumed run: %d calls, report %d/%d, timing %+v", loc.calls.Load(), r.NSamples, r.NFailed, r.Timing)
	}
	// --retry-failed redoes the failed one only.
	loc.calls.Store(0)
	loc.answer = nil
	o.RetryFailed = true
	if r, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if loc.calls.Load() != 1 || r.NFailed != 0 || r.NSamples != 10 {
		t.Fatalf("retry: %d calls, %d failed", loc.calls.Load(), r.NFailed)
	}
	if f := readLines(t, out); len(f.Records) != 10 {
		t.Errorf("samples.jsonl has %d lines", len(f.Records))
	}
	for _, name := range []string{ReportJSON, ReportMD, CurvePNG, SchemaFile, RunFile} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	// Another benchmark's run is not mixed in.
	duet, err := dataset.Read(dataset.VGGSSDuet, "d.json", []byte(`[{"file":"x","bbox_src1":[0,0,1,1],"bbox_src2":[0,0,1,1]}]`))
	if err != nil {
		t.Fatal(err)
	}
	o.Annotations = duet
	var ie *InputError
	if _, err := Run(context.Background(), o); !errors.As(err, &ie) || !strings.Contains(err.Error(), "holds a vggss run") {
		t.Errorf("other dataset into the same --out: %v", err)
	}
}

func TestRunUnknownSampleInSamplesFile(t *testing.T) {
	b, ann := bench(t, 3)
	out := t.TempDir()
	line := `{"sample":"not_in_the_file","status":"input_error","failure":{"reason":"missing_input","error":""}}` + "\n"
	if err := os.WriteFile(filepath.Join(out, SamplesFile), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	var ie *InputError
	_, err := Run(context.Background(), options(b, ann, &fakeLocalizer{}, out))
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `"not_in_the_file"`) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("unknown sample in samples.jsonl: %v", err)
	}
}

// TestSampleDeadline: a sample whose GAR loop outlasts SampleDeadline is
// cut there, recorded as failed, and the run goes on.
func TestSampleDeadline(t *testing.T) {
	b, ann := bench(t, 3)
	hung := b.IDs[1]
	loc := &fakeLocalizer{answer: func(ctx context.Context, in gar.Input) gar.Result {
		if in.RequestID != "test/eval/2" {
			return okResult(in)
		}
		<-ctx.Done() // a server that never answers
		return gar.Result{Status: gar.StatusMLLMUnavailable, Err: ctx.Err()}
	}}
	o := options(b, ann, loc, t.TempDir())
	o.SampleDeadline = 200 * time.Millisecond
	ran := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), o)
		ran <- err
	}()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("Run is still waiting for sample %s: its deadline did not cut it", hung)
	}
	f := readLines(t, o.Out)
	if len(f.Records) != 3 {
		t.Fatalf("%d lines, want 3", len(f.Records))
	}
	for _, r := range f.Records {
		if failed := !r.Pred.OK(); failed != (r.Pred.Sample == hung) {
			t.Errorf("sample %s: failed %v; want only %s failed", r.Pred.Sample, failed, hung)
		}
	}
}

// TestRunStopsOnOutage: a server that stays unavailable stops the run; the
// unavailable samples are not recorded, so a rerun does them.
func TestRunStopsOnOutage(t *testing.T) {
	// Loaders, workers and the writer all end before Run returns.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, ann := bench(t, 40)
	out := t.TempDir()
	var n atomic.Int64
	loc := &fakeLocalizer{answer: func(_ context.Context, in gar.Input) gar.Result {
		if n.Add(1) <= 5 {
			return okResult(in)
		}
		return unavailable(nil)
	}}
	o := options(b, ann, loc, out)
	o.Concurrency = 1
	_, err := Run(context.Background(), o)
	if !errors.Is(err, ErrModelUnavailable) {
		t.Fatalf("Run = %v, want ErrModelUnavailable", err)
	}
	f := readLines(t, out)
	if len(f.Records) != 5 {
		t.Fatalf("%d lines written, want the 5 that succeeded", len(f.Records))
	}
	for _, r := range f.Records {
		if !r.Pred.OK() {
			t.Errorf("line %d is a failure", r.Line)
		}
	}
	// The one worker may have started the next sample before the abort.
	if calls := n.Load(); calls < 5+OutageRun || calls > 5+OutageRun+1 {
		t.Errorf("%d samples tried, want 5 + %d (+1)", calls, OutageRun)
	}
	// A short unavailable spell between successes is recorded as failures.
	out2 := t.TempDir()
	n.Store(0)
	loc.answer = func(_ context.Context, in gar.Input) gar.Result {
		if k := n.Add(1); k > 3 && k <= 6 || k > 38 {
			return unavailable(nil)
		}
		return okResult(in)
	}
	o.Out = out2
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Three in the middle, two at the very end: all recorded.
	if r.NFailed != 5 || r.FailedByReason["mllm_unavailable"] != 5 || r.NSamples != 40 {
		t.Errorf("brief outage: %d failed %v of %d", r.NFailed, r.FailedByReason, r.NSamples)
	}
}

// TestRunInterrupted: cancelling keeps every finished sample and records
// none of those cut short; the rerun completes the set.
func TestRunInterrupted(t *testing.T) {
	// Loaders, workers and the writer all end before Run returns.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, ann := bench(t, 16)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	finished := 0
	loc := &fakeLocalizer{answer: func(ctx context.Context, in gar.Input) gar.Result {
		mu.Lock()
		finished++
		k := finished
		mu.Unlock()
		if k == 6 {
			cancel() // Ctrl-C while samples are in flight
		}
		if k >= 6 {
			<-ctx.Done() // these are cut short
			return gar.Result{Status: gar.StatusMLLMUnavailable, Err: ctx.Err()}
		}
		return okResult(in)
	}}
	_, err := Run(ctx, options(b, ann, loc, out))
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
	f := readLines(t, out)
	if len(f.Records) != 5 {
		t.Fatalf("%d lines after the interrupt, want the 5 finished", len(f.Records))
	}
	loc.answer = nil
	r, err := Run(context.Background(), options(b, ann, loc, out))
	if err != nil {
		t.Fatal(err)
	}
	if r.NSamples != 16 || r.NFailed != 0 || r.Timing.RanSamples != 11 {
		t.Errorf("after resuming: %d samples, %d failed, ran %d", r.NSamples, r.NFailed, r.Timing.RanSamples)
	}
}

func TestLayoutCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		l    Layout
		want string
	}{
		{Layout{}, "--frames DIR and --audio DIR"},
		{Layout{Frames: dir}, "--frames DIR and --audio DIR"},
		{Layout{Frames: dir, Audio: dir, Videos: dir}, "not both"},
		{Layout{Frames: filepath.Join(dir, "nope"), Audio: dir}, "--frames"},
		{Layout{Videos: file}, "not a directory"},
	} {
		if err := tc.l.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.l, err, tc.want)
		}
	}
	if err := (Layout{Frames: dir, Audio: dir}).Check(); err != nil {
		t.Error(err)
	}
}

func TestNoInputAtAll(t *testing.T) {
	b, ann := bench(t, 3)
	o := options(b, ann, &fakeLocalizer{}, t.TempDir())
	o.Layout.Frames = t.TempDir() // exists, but holds no frame
	var ie *InputError
	if _, err := Run(context.Background(), o); !errors.As(err, &ie) || !strings.Contains(err.Error(), "none of the 3 samples") {
		t.Errorf("Run = %v", err)
	}
}

func TestSizeFor(t *testing.T) {
	single := &loader{kind: dataset.VGGSS, modelSize: 224, decoder: capture.Files{}}
	duet := &loader{kind: dataset.VGGSSDuet, modelSize: 224, decoder: capture.Files{}}
	for _, tc := range []struct {
		l          *loader
		w, h       int
		wantW, wan int
	}{
		{single, 640, 360, 224, 224},
		{duet, 448, 224, 448, 224},
		{duet, 640, 360, 392, 224}, // 398 → 392
		{duet, 360, 640, 224, 392},
		{duet, 224, 224, 224, 224},
		{duet, 300, 290, 224, 224}, // never below the short side
		{&loader{kind: dataset.MUSICDuet, modelSize: 336, decoder: capture.Files{}}, 896, 448, 672, 336},
	} {
		if w, h := tc.l.sizeFor(tc.w, tc.h); w != tc.wantW || h != tc.wan {
			t.Errorf("%s sizeFor(%d, %d) = %dx%d, want %dx%d", tc.l.kind, tc.w, tc.h, w, h, tc.wantW, tc.wan)
		}
	}
}

// TestLoadStill feeds sounds at other rates and channel counts, shorter
// and longer than the window, and files that are missing or broken.
func TestLoadStill(t *testing.T) {
	dir := t.TempDir()
	frames, audio := filepath.Join(dir, "frames"), filepath.Join(dir, "audio")
	os.MkdirAll(frames, 0o755)
	os.MkdirAll(audio, 0o755)
	testmedia.File(t, frames, "a.jpg", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=1", "-frames:v", "1")
	for _, id := range []string{"long", "short", "tiny", "broken", "noaudio"} {
		os.Link(filepath.Join(frames, "a.jpg"), filepath.Join(frames, id+".jpg"))
	}
	// 8 s at 8 kHz, 6 channels: the middle 3 s are sent.
	testmedia.File(t, audio, "long.wav", testmedia.Sine(0.5, 440, 8000, 6, 8)...)
	testmedia.File(t, audio, "short.flac", testmedia.Sine(0.5, 440, 48000, 1, 1.5)...)
	testmedia.File(t, audio, "tiny.wav", testmedia.Sine(0.5, 440, 16000, 1, 0.2)...)
	os.WriteFile(filepath.Join(audio, "broken.wav"), []byte("RIFF but not really"), 0o644)
	l := &loader{kind: dataset.VGGSS, layout: Layout{Frames: frames, Audio: audio}, modelSize: 224, decoder: capture.Files{}}

	m, failure := l.load(context.Background(), "long")
	if failure != nil {
		t.Fatal(failure.Error)
	}
	if len(m.wav) != 44+2*48000 || m.modelWidth != 224 || m.frameWidth != 640 || m.ptsStart != 2500*time.Millisecond || m.ptsEnd != 5500*time.Millisecond {
		t.Errorf("long: %d WAV bytes, model %dx%d, frame %dx%d, window %v–%v", len(m.wav), m.modelWidth, m.modelHeight, m.frameWidth, m.frameHeight, m.ptsStart, m.ptsEnd)
	}
	m, failure = l.load(context.Background(), "short")
	if failure != nil {
		t.Fatal(failure.Error)
	}
	if len(m.wav) != 44+2*48000 || m.rmsDBFS > -9 {
		t.Errorf("short: %d WAV bytes (want padded to 3 s), %v dBFS", len(m.wav), m.rmsDBFS)
	}
	for id, want := range map[string][]string{
		"tiny":    {samples.ReasonBadInput, "less than 500ms"},
		"broken":  {samples.ReasonBadInput, `"broken"`},
		"noaudio": {samples.ReasonMissingInput, "noaudio.wav", "noaudio.flac"},
		"nothing": {samples.ReasonMissingInput, "nothing.jpg", "nothing.png"},
	} {
		_, failure := l.load(context.Background(), id)
		if failure == nil || failure.Reason != want[0] {
			t.Errorf("%s: %+v, want reason %s", id, failure, want[0])
			continue
		}
		for _, w := range want[1:] {
			if !strings.Contains(failure.Error, w) {
				t.Errorf("%s: %q lacks %q", id, failure.Error, w)
			}
		}
	}
}

// TestLoadVideo takes the middle 3 s of a clip through capture and
// windowing, and keeps a composite's aspect.
func TestLoadVideo(t *testing.T) {
	dir := t.TempDir()
	testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(448, 224, 25, 7),
		testmedia.Sine(0.5, 440, 44100, 2, 7), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	testmedia.File(t, dir, "short.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 2),
		testmedia.Sine(0.5, 440, 44100, 2, 2), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	l := &loader{kind: dataset.VGGSSDuet, layout: Layout{Videos: dir}, modelSize: 224, decoder: capture.Files{}}
	m, failure := l.load(context.Background(), "clip")
	if failure != nil {
		t.Fatal(failure.Error)
	}
	mid := (m.ptsStart + m.ptsEnd) / 2
	if d := mid - 3500*time.Millisecond; d < -150*time.Millisecond || d > 150*time.Millisecond || m.ptsEnd-m.ptsStart != Window {
		t.Errorf("window %v–%v, want 3 s centred on 3.5 s", m.ptsStart, m.ptsEnd)
	}
	if m.modelWidth != 448 || m.modelHeight != 224 || m.frameWidth != 448 || len(m.wav) != 44+2*48000 {
		t.Errorf("model %dx%d frame %dx%d wav %d", m.modelWidth, m.modelHeight, m.frameWidth, m.frameHeight, len(m.wav))
	}
	l.kind = dataset.VGGSS
	if _, failure = l.load(context.Background(), "short"); failure == nil || !strings.Contains(failure.Error, "no complete 3s window") {
		t.Errorf("2 s clip: %+v", failure)
	}
	if _, failure = l.load(context.Background(), "gone"); failure == nil || failure.Reason != samples.ReasonMissingInput || !strings.Contains(failure.Error, "gone.mp4") {
		t.Errorf("missing clip: %+v", failure)
	}
}

func TestLineProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false, 40, 10, 1)
	for i := range 30 {
		p.done(i%10 == 0)
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// From 10/40 (25 %) to 40/40: one line per 2 samples, 15 lines.
	if len(lines) != 15 || !strings.HasPrefix(lines[len(lines)-1], "eval: 40/40 samples (100%)") || !strings.Contains(lines[len(lines)-1], "4 failed") {
		t.Errorf("%d lines:\n%s", len(lines), buf.String())
	}
}

// TestRunLineMetrics checks the per-sample metrics of a line against hand
// counts: the prediction is the whole picture, so cIoU is the GT's share
// of the 224×224 mask, drawn inclusively (gar) or half-open (standard).
func TestRunLineMetrics(t *testing.T) {
	b, ann := bench(t, 2)
	loc := &fakeLocalizer{answer: func(_ context.Context, in gar.Input) gar.Result {
		res := okResult(in)
		src := &res.Sources[0]
		src.BBoxModel = gar.Box{0, 0, in.ModelWidth - 1, in.ModelHeight - 1}
		src.BBox = gar.Box{0, 0, in.FrameWidth - 1, in.FrameHeight - 1}
		src.BBoxNorm = [4]float64{0, 0, 1, 1} // pixel edges, metrics.md
		return res
	}}
	out := t.TempDir()
	if _, err := Run(context.Background(), options(b, ann, loc, out)); err != nil {
		t.Fatal(err)
	}
	for _, r := range readLines(t, out).Records {
		var line struct {
			Metrics samples.Metrics `json:"metrics"`
		}
		if err := json.Unmarshal(r.Raw, &line); err != nil {
			t.Fatal(err)
		}
		box := b.Boxes[r.Pred.Sample][0] // inclusive pixels of the 320×240 frame
		// gar: x = round(c·224/320), y = round(c·224/240); x2 edge = X2+1.
		gx1, gx2 := int(math.Round(float64(box.X1)*224/320)), int(math.Round(float64(box.X2+1)*224/320))
		gy1, gy2 := int(math.Round(float64(box.Y1)*224/240)), int(math.Round(float64(box.Y2+1)*224/240))
		wantGAR := float64((gx2-gx1+1)*(gy2-gy1+1)) / metrics.Pixels
		// standard: int(224·v) of the normalised edges, half-open.
		sx1, sx2 := int(224*float64(box.X1)/320), int(224*float64(box.X2+1)/320)
		sy1, sy2 := int(224*float64(box.Y1)/240), int(224*float64(box.Y2+1)/240)
		wantStd := float64((sx2-sx1)*(sy2-sy1)) / metrics.Pixels
		if g, s := line.Metrics.GAR.CIoU[0], line.Metrics.Standard.CIoU[0]; math.Abs(g-wantGAR) > 1e-12 || math.Abs(s-wantStd) > 1e-12 {
			t.Errorf("%s: cIoU gar %v standard %v, want %v and %v", r.Pred.Sample, g, s, wantGAR, wantStd)
		}
	}
}

func TestBarProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true, 10, 2, 1)
	for i := range 8 {
		p.done(i == 3)
	}
	p.finish()
	out := buf.String()
	if !strings.Contains(out, "10/10") || !strings.Contains(out, "eval (2 failed)") || !strings.Contains(out, "samples/s") {
		t.Errorf("progress bar output lacks the count, the failures or the rate:\n%q", out)
	}
}
