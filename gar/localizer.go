package gar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/redact"
	"github.com/garssl/garssld/media"
)

// Completer sends one chat completion; *mllm.Client is the real one.
type Completer interface {
	Complete(ctx context.Context, req mllm.Request) (mllm.Response, error)
}

// Schedules of model requests.
const (
	// ScheduleParallel runs locate ∥ audio, then one analysis request per
	// source (n = N, or N concurrent requests), then refinement: three model
	// round-trips on the critical path.
	ScheduleParallel = "parallel"
	// ScheduleSequential sends every request after the previous one, trials
	// as separate requests: what the authors ran, and what a single-slot
	// server (llama-server -np 1) can serve without queueing.
	ScheduleSequential = "sequential"
)

// Config sets up a Localizer. Zero values take the defaults of design §3,
// except the gate thresholds: 0 is a legal threshold (that condition always
// passes), so TauAV and TauAudio are used as given and callers pass
// DefaultTauAV and DefaultTauAudio for the paper's gate.
type Config struct {
	AnalysisTrials int     // N, default 5
	TauAV          float64 // τ_av in [0,1], used as given (design default 0.5)
	TauAudio       float64 // τ_audio in [0,1], used as given (design default 0.75)
	MaxSources     int     // K, default 1
	Temperature    float64 // analysis sampling, default 0.4
	TopP           float64 // analysis sampling, default 0.9
	// SupportsN sends the N trials as one request with n = N; otherwise as
	// N requests (llama-server accepts only n = 1).
	SupportsN bool
	// Schedule is ScheduleParallel (default) or ScheduleSequential.
	Schedule string
	// KeepRaw records every stage's raw answer in the result.
	KeepRaw bool
	// Model names the model in the payload.
	Model string
}

// Default values of Config.
const (
	DefaultAnalysisTrials = 5
	DefaultTauAV          = 0.5
	DefaultTauAudio       = 0.75
	DefaultTemperature    = 0.4
	DefaultTopP           = 0.9
)

// Completion budgets per stage, in tokens: generous for the JSON shapes the
// prompts ask for, tight enough that a rambling model cannot hold the GPU.
const (
	maxTokensLocate   = 256
	maxTokensAudio    = 96
	maxTokensAnalysis = 320
	maxTokensRefine   = 400
)

// Localizer runs the GAR loop of one window. It is safe for concurrent use.
type Localizer struct {
	cfg    Config
	client Completer
}

// NewLocalizer validates cfg and returns a Localizer that sends its requests
// through client.
func NewLocalizer(cfg Config, client Completer) (*Localizer, error) {
	if cfg.AnalysisTrials == 0 {
		cfg.AnalysisTrials = DefaultAnalysisTrials
	}
	if cfg.MaxSources == 0 {
		cfg.MaxSources = 1
	}
	if cfg.Temperature == 0 {
		cfg.Temperature = DefaultTemperature
	}
	if cfg.TopP == 0 {
		cfg.TopP = DefaultTopP
	}
	if cfg.Schedule == "" {
		cfg.Schedule = ScheduleParallel
	}
	switch {
	case cfg.AnalysisTrials < 1 || cfg.AnalysisTrials > 16:
		return nil, fmt.Errorf("analysis_trials %d: use 1 to 16", cfg.AnalysisTrials)
	case cfg.MaxSources < 1 || cfg.MaxSources > 4:
		return nil, fmt.Errorf("max_sources %d: use 1 to 4", cfg.MaxSources)
	case cfg.TauAV < 0 || cfg.TauAV > 1 || cfg.TauAudio < 0 || cfg.TauAudio > 1:
		return nil, fmt.Errorf("tau_av %v and tau_audio %v must lie in [0,1]", cfg.TauAV, cfg.TauAudio)
	case cfg.Schedule != ScheduleParallel && cfg.Schedule != ScheduleSequential:
		return nil, fmt.Errorf("schedule %q: use %q or %q", cfg.Schedule, ScheduleParallel, ScheduleSequential)
	case client == nil:
		return nil, errors.New("no model client")
	}
	return &Localizer{cfg: cfg, client: client}, nil
}

// Input is one window as the GAR loop needs it.
type Input struct {
	// RequestID prefixes every request id: "<node>/<stream>/<seq>".
	RequestID string
	// ImageJPEG is the picture at ModelWidth×ModelHeight, a multiple of 28.
	ImageJPEG               []byte
	ModelWidth, ModelHeight int
	// WAV is the window's 16 kHz mono audio.
	WAV []byte
	// FrameWidth and FrameHeight are the original picture size, for bbox.
	FrameWidth, FrameHeight int
	// HFOVDeg is the camera's horizontal field of view; 0 leaves bearing out.
	HFOVDeg float64
	// Direction finds the direction of arrival of the stream's sound; nil
	// when the stream has no microphone array. Array is the window's
	// multichannel sound for it.
	Direction *Direction
	Array     *media.ArrayAudio
}

// Result is the outcome of one GAR loop. Detection renders it as payload v1.
type Result struct {
	Status  Status
	Audio   AudioInfo // Label and Confidence; the caller adds the level
	Sources []SourceResult
	GAR     GARInfo
	Latency LatencyMS
	Tokens  TokenUsage
	Raw     *RawOutputs
	// Err says why Status is not ok (nil when it is).
	Err error
	// Failures lists every request that failed and every answer that could
	// not be used, in the order they happened, whatever the Status.
	Failures []StageFailure
}

// window is the state of one Localize call.
type window struct {
	l        *Localizer
	in       Input
	media    mllm.Media
	mu       sync.Mutex // guards the counters below
	tokens   TokenUsage
	cached   int  // cached prompt tokens of the answers that reported them
	answers  int  // answered requests
	uncached bool // some answer did not report its cached tokens
	calls    int
	failures []StageFailure

	descriptions []string // locate's descriptions, by source
}

// Localize runs the GAR loop on one window. It never fails outright. Only
// generation decides the status: a locate request that fails (transport,
// 5xx, 4xx, open breaker, deadline) gives StatusMLLMUnavailable and a locate
// answer with no usable box StatusInvalidModelOutput, with the reason in
// Err. Later failures leave the window ok, because the loop can still
// decide: a failed analysis trial counts as unparsed, a failed audio
// request leaves the label unknown, and a failed refinement keeps the
// initial box. Every failure is listed in Failures. ctx carries the
// window's deadline.
func (l *Localizer) Localize(ctx context.Context, in Input) (res Result) {
	start := time.Now()
	w := &window{l: l, in: in, media: mllm.EncodeMedia(in.ImageJPEG, in.WAV)}
	res = Result{Status: StatusOK, GAR: GARInfo{AnalysisTrials: l.cfg.AnalysisTrials, TauAV: l.cfg.TauAV, TauAudio: l.cfg.TauAudio, Model: l.cfg.Model}}
	if l.cfg.KeepRaw {
		res.Raw = &RawOutputs{}
	}
	defer func() {
		res.Latency.Total = time.Since(start).Milliseconds()
		w.mu.Lock()
		res.Tokens, res.GAR.Requests, res.Failures = w.tokens, w.calls, w.failures
		if w.answers > 0 && !w.uncached {
			res.Tokens.Cached = &w.cached
		}
		w.mu.Unlock()
	}()

	// Direction finding needs no model: it runs first, so that a window
	// the model cannot answer still carries its direction.
	var dir *DoAInfo
	if in.Direction != nil {
		// An error leaves audio.doa out; the observer counts it.
		dir, _ = in.Direction.Estimate(in.Array, in.HFOVDeg)
		res.Audio.DoA = dir
	}
	boxes, audio, err := w.generate(ctx, &res)
	if err != nil {
		if res.Status == StatusOK {
			res.Status = StatusMLLMUnavailable
		}
		res.Err = err
		return res
	}
	if dir != nil && in.Direction.cfg.Hint {
		if hint := dir.Hint(boxes, in.ModelWidth, in.HFOVDeg, in.Direction.cfg.ToleranceDeg); hint != "" {
			boxes = w.relocate(ctx, &res, hint, boxes)
		}
	}
	res.Audio.Label, res.Audio.Confidence = audio[0].Class, audio[0].Confidence

	res.Sources = make([]SourceResult, len(boxes))
	analysisStart := time.Now()
	refineTook := make([]time.Duration, len(boxes))
	perSource := func(k int) {
		src := &res.Sources[k]
		*src = w.initialSource(k, boxes[k], audio[k])
		cons, raws, valid := w.analyse(ctx, k, boxes, audio)
		if l.cfg.KeepRaw {
			src.Raw = &SourceRawOutput{Analysis: raws}
		}
		src.AVConsistency, src.Keep, src.RoleTags, src.Anchors = cons.AV, cons.Keep, cons.RoleTags, cons.Anchors
		w.mu.Lock()
		res.GAR.ValidTrials += valid
		w.mu.Unlock()
		gate := Gate(cons, audio[k].Confidence, l.cfg.TauAV, l.cfg.TauAudio)
		src.Gate = &GateInfo{SkipRefine: gate.SkipRefine, Reason: gate.Reason}
		if gate.SkipRefine {
			return
		}
		began := time.Now()
		w.refine(ctx, k, boxes, audio, cons, src)
		refineTook[k] = time.Since(began)
	}
	if l.cfg.Schedule == ScheduleSequential || len(boxes) == 1 {
		for k := range boxes {
			perSource(k)
		}
	} else {
		var wg sync.WaitGroup
		for k := range boxes {
			wg.Add(1)
			go func() { defer wg.Done(); perSource(k) }()
		}
		wg.Wait()
	}
	var refineMax time.Duration
	for _, d := range refineTook {
		refineMax = max(refineMax, d)
	}
	res.Latency.Analysis = (time.Since(analysisStart) - refineMax).Milliseconds()
	res.Latency.Refine = refineMax.Milliseconds()
	final := make([]Box, len(res.Sources))
	for k := range res.Sources {
		w.finishSource(&res.Sources[k])
		final[k] = res.Sources[k].BBoxModel
	}
	for k, g := range dir.Agreement(final, in.ModelWidth, in.HFOVDeg) {
		res.Sources[k].DoAAgreementDeg = &g
	}
	return res
}

// id builds a request id: <prefix>/<stage>[/s<k>][/t<i>].
func (w *window) id(stage string, source, trial int) string {
	id := w.in.RequestID + "/" + stage
	if source >= 0 && w.l.cfg.MaxSources > 1 {
		id += "/s" + strconv.Itoa(source)
	}
	if trial >= 0 {
		id += "/t" + strconv.Itoa(trial)
	}
	return id
}

// call sends one request and accounts for it; a failed request is recorded
// as a failure of its stage, source and trial.
func (w *window) call(ctx context.Context, req mllm.Request, source, trial int) (mllm.Response, error) {
	req.System = SystemPrompt
	resp, err := w.l.client.Complete(ctx, req)
	w.mu.Lock()
	w.calls += resp.Attempts // requests that reached a server, retries included
	w.tokens.Prompt += resp.Usage.PromptTokens
	w.tokens.Completion += resp.Usage.CompletionTokens
	if err == nil {
		// A window's cached count is known only when every answer said;
		// a partial sum would pass for a lower hit rate.
		w.answers++
		w.cached += resp.Usage.CachedTokens
		w.uncached = w.uncached || !resp.Usage.CachedReported
	}
	w.mu.Unlock()
	if err != nil {
		w.fail(req.Stage, source, trial, err)
	}
	return resp, err
}

// fail records that a stage of source (or -1) and trial (or -1) failed.
func (w *window) fail(stage string, source, trial int, err error) {
	f := StageFailure{Stage: stage, Error: redact.Text(err.Error())}
	if source >= 0 && w.l.cfg.MaxSources > 1 {
		f.Source = &source
	}
	if trial >= 0 {
		f.Trial = &trial
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, f)
}

// generate runs the locate and audio stages and returns K boxes and K audio
// answers paired by index.
func (w *window) generate(ctx context.Context, res *Result) ([]Box, []AudioAnswer, error) {
	k := w.l.cfg.MaxSources
	locateReq := w.locateRequest("", -1)
	audioReq := mllm.Request{ID: w.id("audio", -1, -1), Stage: "audio", Media: w.media.AudioOnly(), MaxTokens: maxTokensAudio}
	if k == 1 {
		audioReq.Text = RenderAudio()
		audioReq.SchemaName, audioReq.Schema = AudioSchema().Name, AudioSchema().Schema
	} else {
		audioReq.Text = RenderAudioMulti(AudioMultiData{Sources: k})
		audioReq.SchemaName, audioReq.Schema = AudioMultiSchema(k).Name, AudioMultiSchema(k).Schema
	}
	var locateResp, audioResp mllm.Response
	var locateErr, audioErr error
	var locateTook, audioTook time.Duration
	timed := func(req mllm.Request, resp *mllm.Response, err *error, took *time.Duration) {
		began := time.Now()
		*resp, *err = w.call(ctx, req, -1, -1)
		*took = time.Since(began)
	}
	if w.l.cfg.Schedule == ScheduleSequential {
		timed(locateReq, &locateResp, &locateErr, &locateTook)
		timed(audioReq, &audioResp, &audioErr, &audioTook)
	} else {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); timed(audioReq, &audioResp, &audioErr, &audioTook) }()
		timed(locateReq, &locateResp, &locateErr, &locateTook)
		wg.Wait()
	}
	res.Latency.Locate, res.Latency.Audio = locateTook.Milliseconds(), audioTook.Milliseconds()
	if res.Raw != nil {
		res.Raw.Locate, res.Raw.Audio = firstChoice(locateResp), firstChoice(audioResp)
	}
	if locateErr != nil {
		// The request id in the error names the stage.
		return nil, nil, locateErr
	}
	boxes, descriptions, err := w.parseLocate(firstChoice(locateResp))
	if err != nil {
		res.Status = StatusInvalidModelOutput
		w.fail("locate", -1, -1, err)
		return nil, nil, err
	}
	// A missing audio answer does not stop the loop: the box stands, the
	// label is unknown and, with confidence 0, the gate sends it to refinement.
	audio := make([]AudioAnswer, k)
	if audioErr == nil {
		if k == 1 {
			audio[0], err = ParseAudio(firstChoice(audioResp))
		} else {
			var as []AudioAnswer
			if as, err = ParseAudioMulti(firstChoice(audioResp), k); err == nil {
				copy(audio, as)
			}
		}
		if err != nil {
			w.fail("audio", -1, -1, err)
		}
	}
	w.descriptions = descriptions
	return boxes, audio, nil
}

// locateRequest is the locate stage's request, with the direction hint
// when hint is not empty; trial ≥ 0 marks a repeated locate in the id.
func (w *window) locateRequest(hint string, trial int) mllm.Request {
	k, mw, mh := w.l.cfg.MaxSources, w.in.ModelWidth, w.in.ModelHeight
	req := mllm.Request{ID: w.id("locate", -1, trial), Stage: "locate", Media: w.media, MaxTokens: maxTokensLocate}
	if k == 1 {
		req.Text = RenderLocate(LocateData{Width: mw, Height: mh, Hint: hint})
		req.SchemaName, req.Schema = LocateSchema().Name, LocateSchema().Schema
	} else {
		req.Text = RenderLocateMulti(LocateMultiData{Width: mw, Height: mh, Sources: k, Hint: hint})
		req.SchemaName, req.Schema = LocateMultiSchema(k).Name, LocateMultiSchema(k).Schema
	}
	return req
}

// parseLocate reads a locate answer: K boxes and their descriptions.
func (w *window) parseLocate(text string) ([]Box, []string, error) {
	k, mw, mh := w.l.cfg.MaxSources, w.in.ModelWidth, w.in.ModelHeight
	if k == 1 {
		a, err := ParseLocate(text, mw, mh)
		if err != nil {
			return nil, nil, err
		}
		return []Box{a.BBox}, []string{a.Description}, nil
	}
	as, err := ParseLocateMulti(text, mw, mh, k)
	if err != nil {
		return nil, nil, err
	}
	boxes, descriptions := make([]Box, len(as)), make([]string, len(as))
	for i, a := range as {
		boxes[i], descriptions[i] = a.BBox, a.Description
	}
	return boxes, descriptions, nil
}

// relocate runs the locate stage again with the direction hint (a stated
// departure from the paper: refinement is clamped to MaxDeltaPx of the
// first box, so it can never reach another object). Its boxes replace
// generation's; a failed request or an unusable answer keeps them. The id
// is the locate's with trial 1.
func (w *window) relocate(ctx context.Context, res *Result, hint string, boxes []Box) []Box {
	began := time.Now()
	resp, err := w.call(ctx, w.locateRequest(hint, 1), -1, -1)
	res.Latency.Locate += time.Since(began).Milliseconds()
	res.GAR.DoAHint = true
	result := HintFailed
	defer func() {
		if obs := w.in.Direction.cfg.Observer; obs != nil {
			obs.DoAHint(w.in.Direction.cfg.Stream, result)
		}
	}()
	if err != nil {
		return boxes
	}
	hinted, descriptions, err := w.parseLocate(firstChoice(resp))
	if err != nil {
		w.fail("locate", -1, -1, err)
		return boxes
	}
	result = HintKept
	if !slices.Equal(hinted, boxes) {
		result = HintMoved
	}
	w.descriptions = descriptions
	return hinted
}

func firstChoice(r mllm.Response) string {
	if len(r.Choices) == 0 {
		return ""
	}
	return r.Choices[0]
}
