package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/garssl/garssld/media"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/ulid/v2"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/metrics"
	"github.com/garssl/garssld/eval/report"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/eval/vis"
	"github.com/garssl/garssld/gar"
)

// Localizer runs the GAR loop on one window; *gar.Localizer is the one.
type Localizer interface {
	Localize(ctx context.Context, in gar.Input) gar.Result
}

// Options configure a Run.
type Options struct {
	Annotations *dataset.Annotations
	Layout      Layout
	// Out is the output directory; a run there before is resumed.
	Out      string
	Protocol metrics.Protocol
	// Limit runs only the first Limit samples of the annotations (0: all).
	Limit int
	// Concurrency is how many samples are in the GAR loop at once.
	Concurrency int
	// Vis writes OUT/vis/<id>.jpg per sample.
	Vis bool
	// RetryFailed redoes the failed samples of an earlier run.
	RetryFailed bool
	// Restart discards what an earlier run recorded in Out and starts
	// over.
	Restart bool
	// Made are the settings that shape a sample's result. Every line
	// records them, and a resume refuses a samples.jsonl made with others
	// (an InputError naming each difference).
	Made samples.Settings

	Localizer Localizer
	// Decoder reads the samples' media files (capture.Files).
	Decoder media.FileDecoder
	NodeID  string
	// ModelSize is gar.model_size, the model's picture side (duets: the
	// short side).
	ModelSize int
	// SampleDeadline bounds the GAR loop of one sample.
	SampleDeadline time.Duration
	Log            hclog.Logger
	// Progress receives the progress bar (a terminal) or lines.
	Progress         io.Writer
	ProgressTerminal bool
	// Settings describe the run in report.md.
	Settings []report.Setting
}

// InputError is a problem with what the user gave (directories, the output
// directory, a damaged samples.jsonl): the command exits 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

// ErrInterrupted ends a run that was stopped (Ctrl-C) before every sample
// was done; what finished is saved.
var ErrInterrupted = errors.New("interrupted")

// ErrModelUnavailable ends a run whose model server stayed unavailable.
var ErrModelUnavailable = errors.New("model server unavailable")

// Output files.
const (
	SamplesFile = "samples.jsonl"
	SchemaFile  = "samples.schema.json"
	ReportJSON  = "report.json"
	ReportMD    = "report.md"
	CurvePNG    = "success_curve.png"
	RunFile     = "run.json"
	VisDir      = "vis"
)

// runInfo pins an output directory to one benchmark.
type runInfo struct {
	Dataset string `json:"dataset"`
}

// job is one sample to do.
type job struct {
	at     int // index in the annotations
	sample dataset.Sample
}

// loaded is a job with its inputs (or why they could not be read).
type loaded struct {
	job
	media   sampleMedia
	failure *samples.Failure
}

// finished is a sample's line, ready to append.
type finished struct {
	line    samples.Line
	picture []byte
}

// Run evaluates the selected samples not yet in OUT/samples.jsonl, then
// scores every selected sample and writes the report files. It returns the
// report.
func Run(ctx context.Context, o Options) (report.Report, error) {
	began := time.Now()
	if o.Decoder == nil {
		return report.Report{}, errors.New("eval: Options.Decoder is nil; pass capture.Files{}")
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	if err := o.Layout.Check(); err != nil {
		return report.Report{}, &InputError{err}
	}
	ann := o.Annotations
	if err := prepareOut(o.Out, ann.Kind, o.Restart); err != nil {
		return report.Report{}, err
	}
	samplesPath := filepath.Join(o.Out, SamplesFile)
	if o.Restart {
		if err := startOver(o.Out); err != nil {
			return report.Report{}, err
		}
	}
	w, existing, err := samples.Open(samplesPath)
	if err != nil {
		return report.Report{}, &InputError{fmt.Errorf("%w (move the file away to start afresh)", err)}
	}
	defer w.Close()
	if existing.Tail != nil {
		o.Log.Warn("the last line of samples.jsonl was half-written; its sample will be redone", "line", existing.Tail.Line)
	}
	for _, r := range existing.Records {
		if _, ok := ann.Index(r.Pred.Sample); !ok {
			return report.Report{}, &InputError{&report.UnknownSampleError{Sample: r.Pred.Sample, Line: r.Line, Annotations: ann.Name}}
		}
	}
	if err := sameSettings(existing.Records, o.Made, samplesPath); err != nil {
		return report.Report{}, err
	}
	if o.RetryFailed {
		w.Close()
		if err := samples.Rewrite(samplesPath, existing.Records, func(r samples.Record) bool { return r.Pred.OK() }); err != nil {
			return report.Report{}, err
		}
		if w, existing, err = samples.Open(samplesPath); err != nil {
			return report.Report{}, err
		}
		defer w.Close()
	}
	if schema, err := samples.Schema(); err != nil {
		return report.Report{}, err
	} else if err := os.WriteFile(filepath.Join(o.Out, SchemaFile), append(schema, '\n'), 0o644); err != nil {
		return report.Report{}, fmt.Errorf("write schema: %w", err)
	}

	selected := ann.Samples
	if o.Limit > 0 && o.Limit < len(selected) {
		selected = selected[:o.Limit]
	}
	done := map[string]bool{}
	already, alreadyFailed := 0, 0
	for _, r := range existing.Records {
		done[r.Pred.Sample] = true
		if at, _ := ann.Index(r.Pred.Sample); at < len(selected) {
			already++
			if !r.Pred.OK() {
				alreadyFailed++
			}
		}
	}
	var todo []job
	for i, s := range selected {
		if !done[s.ID] {
			todo = append(todo, job{at: i, sample: s})
		}
	}
	if len(todo) > 0 && o.Layout.Videos == "" && o.Layout.Frames != "" {
		if err := checkAnyInput(o.Layout, ann.Kind, todo); err != nil {
			return report.Report{}, err
		}
	}
	o.Log.Info("evaluating", "dataset", ann.Kind, "selected", len(selected), "resumed", already, "to_do", len(todo))

	r := &runner{o: o, loader: &loader{kind: ann.Kind, layout: o.Layout, modelSize: o.ModelSize, decoder: o.Decoder, log: o.Log.Named("capture")},
		runID: ulid.Make().String(), writer: w, ann: ann}
	prog := newProgress(o.Progress, o.ProgressTerminal, len(selected), already, alreadyFailed)
	ran, runErr := r.run(ctx, todo, prog)
	prog.finish()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close %s: %w", samplesPath, err)
	}
	if runErr != nil {
		return report.Report{}, runErr
	}

	rep, err := scoreSelected(samplesPath, ann, o.Protocol, len(selected))
	if err != nil {
		return report.Report{}, err
	}
	wall := time.Since(began).Seconds()
	rep.Timing = &report.Timing{WallS: wall, RanSamples: ran, ResumedSamples: already}
	if wall > 0 {
		rep.Timing.SamplesPerS = float64(ran) / wall
	}
	return rep, writeReports(o, rep)
}

// checkAnyInput fails fast when not one sample to do has its frame: the
// directories or the dataset are wrong, not a few files.
func checkAnyInput(l Layout, kind dataset.Kind, todo []job) error {
	var tried []string
	for _, j := range todo {
		p, t := firstExisting(l.Frames, kind.FrameNames(j.sample.ID))
		if p != "" {
			return nil
		}
		if tried == nil {
			tried = t
		}
	}
	return inputErrorf("none of the %d samples has a frame under --frames %s (for the first one, looked for %v): wrong directory or --dataset?", len(todo), l.Frames, tried)
}

// sameSettings refuses to resume a samples file whose lines were made with
// other settings than made, naming each difference and the lines that have
// it, or whose lines record none (written by an older garssld), since they
// cannot be checked.
func sameSettings(records []samples.Record, made samples.Settings, path string) error {
	type seen struct{ first, last, n int }
	var (
		diffs      []string
		lines      = map[string]*seen{}
		unrecorded *seen
	)
	note := func(s **seen, line int) {
		if *s == nil {
			*s = &seen{first: line}
		}
		(*s).last = line
		(*s).n++
	}
	for _, r := range records {
		if r.Pred.Settings == nil {
			note(&unrecorded, r.Line)
			continue
		}
		for _, d := range made.Differences(*r.Pred.Settings) {
			l := lines[d]
			if l == nil {
				diffs = append(diffs, d)
			}
			note(&l, r.Line)
			lines[d] = l
		}
	}
	span := func(s *seen) string {
		if s.n == 1 {
			return fmt.Sprintf("line %d", s.first)
		}
		return fmt.Sprintf("%d lines, %d to %d", s.n, s.first, s.last)
	}
	var problems []string
	for _, d := range diffs {
		problems = append(problems, fmt.Sprintf("%s (%s)", d, span(lines[d])))
	}
	if unrecorded != nil {
		problems = append(problems, fmt.Sprintf("no recorded settings to compare with (%s; written by a garssld before they were recorded)", span(unrecorded)))
	}
	if len(problems) == 0 {
		return nil
	}
	return inputErrorf("%s was made with other settings than this run's, and resuming would mix them in one report: %s. Run with --restart to start over, or use another --out",
		path, strings.Join(problems, "; "))
}

// startOver removes what an earlier run recorded in out: its samples and
// pictures. The reports are written anew at the end of the run.
func startOver(out string) error {
	for _, p := range []string{filepath.Join(out, SamplesFile), filepath.Join(out, VisDir)} {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("start over: %w", err)
		}
	}
	return nil
}

// prepareOut makes out and pins it to the benchmark kind; restart
// repins it.
func prepareOut(out string, kind dataset.Kind, restart bool) error {
	if out == "" {
		return inputErrorf("--out is required")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return inputErrorf("create output directory: %v", err)
	}
	path := filepath.Join(out, RunFile)
	if b, err := os.ReadFile(path); err == nil {
		var prev runInfo
		if json.Unmarshal(b, &prev) == nil && prev.Dataset != "" && prev.Dataset != string(kind) && !restart {
			return inputErrorf("%s holds a %s run, not %s: use another --out, or --restart to start over there", out, prev.Dataset, kind)
		}
	}
	b, _ := json.Marshal(runInfo{Dataset: string(kind)})
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// scoreSelected scores the lines of the first n annotated samples.
func scoreSelected(path string, ann *dataset.Annotations, protocol metrics.Protocol, n int) (report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return report.Report{}, err
	}
	defer f.Close()
	content, err := samples.Read(f, path)
	if err != nil {
		return report.Report{}, err
	}
	var keep []samples.Record
	for _, r := range content.Records {
		if at, ok := ann.Index(r.Pred.Sample); ok && at < n {
			keep = append(keep, r)
		}
	}
	return report.Score(ann, protocol, keep)
}

func writeReports(o Options, rep report.Report) error {
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Out, ReportJSON), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	md, err := os.Create(filepath.Join(o.Out, ReportMD))
	if err != nil {
		return fmt.Errorf("write report.md: %w", err)
	}
	settings := append(o.Settings, report.Setting{Name: "wall time", Value: fmt.Sprintf("%.1f s for %d samples (%.2f samples/s); %d resumed from an earlier run",
		rep.Timing.WallS, rep.Timing.RanSamples, rep.Timing.SamplesPerS, rep.Timing.ResumedSamples)})
	if err := errors.Join(report.WriteMarkdown(md, rep, settings), md.Close()); err != nil {
		return fmt.Errorf("write report.md: %w", err)
	}
	return report.WriteCurvePNG(filepath.Join(o.Out, CurvePNG), rep)
}

// runner holds one run's shared state.
type runner struct {
	o      Options
	loader *loader
	runID  string
	writer *samples.Writer
	ann    *dataset.Annotations

	logMu    sync.Mutex
	reported map[string]int // failures logged per reason
}

// run pushes todo through loaders, workers and the writer and returns how
// many samples were written.
func (r *runner) run(parent context.Context, todo []job, prog progress) (int, error) {
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	conc := r.o.Concurrency
	jobs := make(chan job)
	ready := make(chan loaded, conc)
	results := make(chan finished, conc)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // feeder
		defer wg.Done()
		defer close(jobs)
		for _, j := range todo {
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	var loaders sync.WaitGroup
	for range max(1, min(conc, runtime.GOMAXPROCS(0))) {
		loaders.Add(1)
		go func() {
			defer loaders.Done()
			for j := range jobs {
				m, failure := r.loader.load(ctx, j.sample.ID)
				if failure != nil && ctx.Err() != nil {
					return // cut short, not a bad input
				}
				select {
				case ready <- loaded{job: j, media: m, failure: failure}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); loaders.Wait(); close(ready) }()
	var workers sync.WaitGroup
	for range conc {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for l := range ready {
				if ctx.Err() != nil {
					continue // drain; the sample is redone next run
				}
				if f, ok := r.process(ctx, l); ok {
					results <- f
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); workers.Wait(); close(results) }()

	written, err := r.write(results, prog, abort)
	wg.Wait()
	if err != nil {
		return written, err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return written, cause
	}
	if parent.Err() != nil {
		return written, fmt.Errorf("%w after %d new samples; what finished is in %s: run the same command again to resume",
			ErrInterrupted, written, filepath.Join(r.o.Out, SamplesFile))
	}
	return written, nil
}

// OutageRun is the least number of consecutive mllm_unavailable samples
// that stops a run; it is twice the concurrency when that is larger.
const OutageRun = 16

// write appends results as they come. Unavailable samples wait until a
// later sample shows the server working; a long run of them aborts the run
// without writing them.
func (r *runner) write(results <-chan finished, prog progress, abort context.CancelCauseFunc) (int, error) {
	limit := max(OutageRun, 2*r.o.Concurrency)
	var pending []finished
	written := 0
	var writeErr error
	aborted := false
	appendLine := func(f finished) {
		if writeErr != nil {
			return
		}
		if err := r.writer.Append(f.line); err != nil {
			writeErr = err
			abort(err)
			return
		}
		written++
		prog.done(f.line.Failure != nil)
		r.visualise(f)
	}
	for f := range results {
		if aborted {
			continue
		}
		if f.line.Detection.Status == gar.StatusMLLMUnavailable {
			pending = append(pending, f)
			if len(pending) >= limit {
				aborted = true
				abort(fmt.Errorf("%w: %d samples in a row failed (last: %s); %d samples are saved in %s, the %d unavailable ones are not: "+
					"check the server, or lower --concurrency or raise mllm.window_deadline if it is only slow, and run the same command again to resume",
					ErrModelUnavailable, len(pending), f.line.Failure.Error, written, filepath.Join(r.o.Out, SamplesFile), len(pending)))
			}
			continue
		}
		for _, p := range pending {
			appendLine(p)
		}
		pending = pending[:0]
		appendLine(f)
	}
	if !aborted {
		for _, p := range pending {
			appendLine(p)
		}
	}
	return written, writeErr
}

// process runs one loaded sample through the GAR loop and builds its line.
// ok is false when the run was cut short under it.
func (r *runner) process(ctx context.Context, l loaded) (finished, bool) {
	kind := r.ann.Kind
	seq := uint64(l.at + 1)
	meta := gar.WindowMeta{Node: r.o.NodeID, RunID: r.runID, Stream: "eval", Seq: seq}
	var res gar.Result
	failure := l.failure
	if failure != nil {
		res = gar.Result{Status: samples.StatusInputError}
		r.logFailure(l.sample.ID, failure)
	} else {
		m := l.media
		meta.PTSStart, meta.PTSEnd, meta.FramePTS = m.ptsStart, m.ptsEnd, m.frame
		meta.FrameWidth, meta.FrameHeight, meta.ModelWidth, meta.ModelHeight = m.frameWidth, m.frameHeight, m.modelWidth, m.modelHeight
		meta.RMSDBFS = m.rmsDBFS
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if r.o.SampleDeadline > 0 {
			sctx, cancel = context.WithTimeout(ctx, r.o.SampleDeadline)
		}
		res = r.o.Localizer.Localize(sctx, gar.Input{
			RequestID: fmt.Sprintf("%s/eval/%d", r.o.NodeID, seq),
			ImageJPEG: m.jpeg, ModelWidth: m.modelWidth, ModelHeight: m.modelHeight,
			WAV: m.wav, FrameWidth: m.frameWidth, FrameHeight: m.frameHeight,
		})
		cancel()
		if ctx.Err() != nil {
			// Ctrl-C or an abort, not the model's doing. Whatever the status:
			// a stage cut short (a refine, a trial) still leaves an "ok"
			// window, and recording it would make a resumed run differ.
			return finished{}, false
		}
		if res.Status != gar.StatusOK {
			msg := string(res.Status)
			if res.Err != nil {
				msg = res.Err.Error()
			}
			failure = &samples.Failure{Reason: string(res.Status), Error: msg}
			r.logFailure(l.sample.ID, failure)
		}
	}
	line := samples.Line{Sample: l.sample.ID, Detection: gar.NewDetection(meta, res), Failure: failure, Settings: &r.o.Made}
	pred := samples.PredictionOf(line)
	line.Metrics = samples.Metrics{
		GAR:      report.ScoreSample(kind, l.sample, &pred, metrics.ProtocolGAR).Scores(),
		Standard: report.ScoreSample(kind, l.sample, &pred, metrics.ProtocolStandard).Scores(),
	}
	return finished{line: line, picture: l.media.jpeg}, true
}

// maxLoggedPerReason bounds the warnings per failure reason; the report
// counts them all.
const maxLoggedPerReason = 5

func (r *runner) logFailure(id string, f *samples.Failure) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if r.reported == nil {
		r.reported = map[string]int{}
	}
	r.reported[f.Reason]++
	switch n := r.reported[f.Reason]; {
	case n <= maxLoggedPerReason:
		r.o.Log.Warn("sample failed; it counts as a miss", "sample", id, "reason", f.Reason, "error", f.Error)
	case n == maxLoggedPerReason+1:
		r.o.Log.Warn("more samples failed for this reason; report.json counts them", "reason", f.Reason)
	}
}

// visualise writes OUT/vis/<id>.jpg when asked for.
func (r *runner) visualise(f finished) {
	if !r.o.Vis || len(f.picture) == 0 {
		return
	}
	d := &f.line.Detection
	s, _ := r.ann.Lookup(f.line.Sample)
	mw, mh := float64(d.Frame.ModelWidth), float64(d.Frame.ModelHeight)
	var boxes []vis.Box
	for _, src := range s.Sources {
		v := src.Box.V
		x2, y2 := v[2], v[3]
		if src.Box.Format == metrics.XYWH {
			x2, y2 = v[0]+v[2], v[1]+v[3]
		}
		boxes = append(boxes, vis.Box{X1: v[0] * mw, Y1: v[1] * mh, X2: x2*mw - 1, Y2: y2*mh - 1, Colour: vis.GroundTruth})
	}
	caption := []string{"gt: " + s.Classes()}
	for k, src := range d.Sources {
		b := src.BBoxModel
		boxes = append(boxes, vis.Box{X1: float64(b[0]), Y1: float64(b[1]), X2: float64(b[2]), Y2: float64(b[3]), Colour: vis.Predicted[k%len(vis.Predicted)]})
		caption = append(caption, fmt.Sprintf("pred %d: %s (%.2f)", k+1, src.Label, src.LabelConfidence))
	}
	m := f.line.Metrics.GAR
	caption = append(caption, fmt.Sprintf("cIoU %.3f, AP %.3f (gar)", m.CIoU[0], m.AP[0]))
	if f.line.Failure != nil {
		caption = append(caption, "failed: "+f.line.Failure.Reason)
	}
	out, err := vis.Draw(f.picture, boxes, caption)
	if err == nil {
		path := filepath.Join(r.o.Out, VisDir, f.line.Sample+".jpg")
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = os.WriteFile(path, out, 0o644)
		}
	}
	if err != nil {
		r.o.Log.Warn("could not write the picture of a sample", "sample", f.line.Sample, "error", err)
	}
}
