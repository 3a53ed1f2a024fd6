package gar

import (
	"context"
	"sync"

	"github.com/garssl/garssld/gar/mllm"
)

// initialSource is source k as generation left it.
func (w *window) initialSource(k int, box Box, audio AudioAnswer) SourceResult {
	return SourceResult{
		BBoxModel: box, InitialBBoxModel: box,
		Label: audio.Class, LabelConfidence: audio.Confidence,
		Description: w.descriptions[k], RoleTags: []string{}, Anchors: []Anchor{},
	}
}

// sourceContext tells a multi-source stage which source it is about; nil in
// single-source mode.
func sourceContext(k int, boxes []Box, audio []AudioAnswer) *SourceContext {
	if len(boxes) < 2 {
		return nil
	}
	sc := &SourceContext{Index: k, Total: len(boxes)}
	for i, b := range boxes {
		if i != k {
			sc.Others = append(sc.Others, OtherSource{Index: i, AudioClass: audio[i].Class, Box: b})
		}
	}
	return sc
}

// analyse runs the N sampled analysis trials of source k and merges those
// that parsed. It returns the consensus, the raw answers and how many parsed.
func (w *window) analyse(ctx context.Context, k int, boxes []Box, audio []AudioAnswer) (ConsensusResult, []string, int) {
	cfg := w.l.cfg
	text := RenderAnalysis(AnalysisData{
		Width: w.in.ModelWidth, Height: w.in.ModelHeight, PreviousBox: boxes[k],
		AudioClass: audio[k].Class, AudioConfidence: audio[k].Confidence,
		Source: sourceContext(k, boxes, audio),
	})
	req := mllm.Request{
		Stage: "analysis", Media: w.media, Text: text,
		Temperature: cfg.Temperature, TopP: cfg.TopP, MaxTokens: maxTokensAnalysis,
		SchemaName: AnalysisSchema().Name, Schema: AnalysisSchema().Schema,
	}
	// A failed request is recorded by call; its trials count as unparsed.
	var answers []string
	if cfg.SupportsN && cfg.Schedule == ScheduleParallel {
		req.ID, req.N = w.id("analysis", k, -1), cfg.AnalysisTrials
		if resp, err := w.call(ctx, req, k, -1); err == nil {
			answers = resp.Choices
		}
	} else {
		answers = make([]string, cfg.AnalysisTrials)
		trial := func(i int) {
			r := req
			r.ID = w.id("analysis", k, i)
			if resp, err := w.call(ctx, r, k, i); err == nil {
				answers[i] = firstChoice(resp)
			}
		}
		if cfg.Schedule == ScheduleSequential {
			for i := range answers {
				trial(i)
			}
		} else {
			var wg sync.WaitGroup
			for i := range answers {
				wg.Add(1)
				go func() { defer wg.Done(); trial(i) }()
			}
			wg.Wait()
		}
	}
	var parsed []AnalysisAnswer
	for _, a := range answers {
		if p, err := ParseAnalysis(a); err == nil {
			parsed = append(parsed, p)
		}
	}
	return Consensus(parsed), answers, len(parsed)
}

// refine asks for a refined box for source k and decides the final box by
// design §3.5. A failed request leaves the initial box in place, with
// Refined false; call records why.
func (w *window) refine(ctx context.Context, k int, boxes []Box, audio []AudioAnswer, cons ConsensusResult, src *SourceResult) {
	mw, mh := w.in.ModelWidth, w.in.ModelHeight
	req := mllm.Request{
		ID: w.id("refine", k, -1), Stage: "refine", Media: w.media, MaxTokens: maxTokensRefine,
		Text: RenderRefine(RefineData{
			Width: mw, Height: mh, PreviousBox: boxes[k], AudioClass: audio[k].Class,
			Consensus: cons, Source: sourceContext(k, boxes, audio),
		}),
		SchemaName: RefineSchema().Name, Schema: RefineSchema().Schema,
	}
	resp, err := w.call(ctx, req, k, -1)
	if err != nil {
		return
	}
	text := firstChoice(resp)
	if src.Raw != nil {
		src.Raw.Refine = text
	}
	ans, err := ParseRefine(text, mw, mh)
	if err != nil {
		w.fail("refine", k, -1, err)
		ans = RefineAnswer{} // the initial box stands (design §3.5)
	}
	out := DecideRefinedBox(boxes[k], ans, mw, mh)
	src.Refined = true
	src.BBoxModel = out.Box
	src.Changed = out.Changed(boxes[k])
	if out.Basis == BasisOp {
		src.Ops = OpsPayloadFrom(ans.Op)
	}
	src.RefinedDescription = ans.RefinedDescription
}

// finishSource adds the frame-pixel, normalised and bearing views of the
// final box.
func (w *window) finishSource(src *SourceResult) {
	in := w.in
	src.BBox = ToFrame(src.BBoxModel, in.ModelWidth, in.ModelHeight, in.FrameWidth, in.FrameHeight)
	src.BBoxNorm = ToNorm(src.BBoxModel, in.ModelWidth, in.ModelHeight)
	if in.HFOVDeg > 0 {
		b := BearingDeg(CentreXNorm(src.BBoxModel, in.ModelWidth), in.HFOVDeg)
		src.BearingDeg = &b
	}
}
