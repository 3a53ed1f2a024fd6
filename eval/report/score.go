package report

import (
	"fmt"
	"math"
	"slices"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/metrics"
	"github.com/garssl/garssld/eval/samples"
)

// SchemaName is the "schema" member of a report.
const SchemaName = "garssl.eval-report/v1"

// Report is what report.json holds. Values of metrics are fractions in
// [0,1]. Members that a protocol does not define for a benchmark are
// omitted, as are *_successful_only values when no sample succeeded.
type Report struct {
	Schema         string         `json:"schema"`
	Dataset        string         `json:"dataset"`
	Protocol       string         `json:"protocol"`
	NAnnotated     int            `json:"n_annotated"`
	NSamples       int            `json:"n_samples"`
	NFailed        int            `json:"n_failed"`
	FailedByReason map[string]int `json:"failed_by_reason"`
	// NScored is the number of scored units: samples, or ground-truth
	// sources for duets under protocol standard.
	NScored       int `json:"n_scored"`
	CIoUUndefined int `json:"ciou_undefined"`

	CIoUMean float64  `json:"ciou_mean"`
	CIoUAt03 float64  `json:"ciou_at_0_3"`
	CIoUAt05 float64  `json:"ciou_at_0_5"`
	AUC      float64  `json:"auc"`
	AP       *float64 `json:"ap,omitempty"`
	CAP      *float64 `json:"cap,omitempty"`
	PIAP     *float64 `json:"piap,omitempty"`

	NSuccessful            int      `json:"n_successful"`
	CIoUMeanSuccessfulOnly *float64 `json:"ciou_mean_successful_only,omitempty"`
	CIoUAt03SuccessfulOnly *float64 `json:"ciou_at_0_3_successful_only,omitempty"`
	CIoUAt05SuccessfulOnly *float64 `json:"ciou_at_0_5_successful_only,omitempty"`
	AUCSuccessfulOnly      *float64 `json:"auc_successful_only,omitempty"`
	APSuccessfulOnly       *float64 `json:"ap_successful_only,omitempty"`
	CAPSuccessfulOnly      *float64 `json:"cap_successful_only,omitempty"`
	PIAPSuccessfulOnly     *float64 `json:"piap_successful_only,omitempty"`

	SuccessCurve               []CurvePoint `json:"success_curve"`
	SuccessCurveSuccessfulOnly []CurvePoint `json:"success_curve_successful_only,omitempty"`

	RefineRun            []int   `json:"refine_run"`
	RefineSkipped        []int   `json:"refine_skipped"`
	RequestsMean         float64 `json:"requests_mean"`
	PromptTokensMean     float64 `json:"prompt_tokens_mean"`
	CompletionTokensMean float64 `json:"completion_tokens_mean"`
	LatencyMSP50         float64 `json:"latency_ms_p50"`
	LatencyMSP95         float64 `json:"latency_ms_p95"`

	// Timing is added by eval (wall time of the run); score leaves it out.
	Timing *Timing `json:"timing,omitempty"`
}

// CurvePoint is one point of the success curve: the fraction of scored
// units with cIoU ≥ T.
type CurvePoint struct {
	T        float64 `json:"t"`
	Fraction float64 `json:"fraction"`
}

// Timing describes an eval run's wall time.
type Timing struct {
	WallS          float64 `json:"wall_s"`
	SamplesPerS    float64 `json:"samples_per_s"`
	RanSamples     int     `json:"ran_samples"`
	ResumedSamples int     `json:"resumed_samples"`
}

// UnknownSampleError is a prediction for a sample the annotations do not
// have.
type UnknownSampleError struct {
	Sample      string
	Line        int
	Annotations string
}

func (e *UnknownSampleError) Error() string {
	return fmt.Sprintf("line %d: sample %q is not in %s (wrong --annotations or --dataset?)", e.Line, e.Sample, e.Annotations)
}

// Unit is the scoring of one sample under one protocol.
type Unit struct {
	Entries []metrics.Entry
	// Pixels counts the sample's masks for PIAP; nil where PIAP is not
	// defined (duets under standard).
	Pixels *metrics.PixelCounts
}

// Scores renders a Unit as the per-sample metrics of a samples.jsonl line.
func (u Unit) Scores() samples.Scores {
	s := samples.Scores{CIoU: make([]float64, len(u.Entries)), AP: make([]float64, len(u.Entries))}
	for i, e := range u.Entries {
		s.CIoU[i], s.AP[i] = e.CIoU, e.AP
	}
	return s
}

// ScoreSample scores one prediction of sample s of benchmark kind. A
// failed prediction (status not ok) scores as an empty one.
func ScoreSample(kind dataset.Kind, s dataset.Sample, p *samples.Prediction, protocol metrics.Protocol) Unit {
	ok := p.OK() && len(p.Sources) > 0
	if protocol == metrics.ProtocolStandard && kind.Duet() {
		gts := make([]*metrics.Mask, len(s.Sources))
		for i, src := range s.Sources {
			gts[i] = &metrics.Mask{}
			gts[i].AddStandard(src.Box)
		}
		var preds []*metrics.Mask
		if ok {
			for _, src := range p.Sources {
				m := &metrics.Mask{}
				m.AddStandard(metrics.NormBox{Format: metrics.XYXY, V: src.BBoxNorm})
				preds = append(preds, m)
			}
		}
		return Unit{Entries: metrics.Greedy(preds, gts)}
	}

	var pred, gt metrics.Mask
	predicted := p.Sources
	if !ok {
		predicted = nil
	} else if !kind.Duet() {
		predicted = predicted[:1]
	}
	switch protocol {
	case metrics.ProtocolGAR:
		w, h := p.Frame.Width, p.Frame.Height
		if w <= 0 || h <= 0 {
			w, h = metrics.Size, metrics.Size
		}
		gtSources := s.Sources
		if kind == dataset.VGGSS && len(gtSources) > 1 {
			gtSources = gtSources[:1] // only the first VGG-SS box
		}
		for _, src := range gtSources {
			gt.AddGAR(src.Box.FrameBox(w, h).Float(), w, h)
		}
		for _, src := range predicted {
			pred.AddGAR(src.BBox, w, h)
		}
	default:
		for _, src := range s.Sources {
			gt.AddStandard(src.Box)
		}
		for _, src := range predicted {
			pred.AddStandard(metrics.NormBox{Format: metrics.XYXY, V: src.BBoxNorm})
		}
	}
	v, defined := metrics.CIoU(&pred, &gt)
	pix := &metrics.PixelCounts{}
	pix.Add(&pred, &gt)
	return Unit{Entries: []metrics.Entry{{CIoU: v, AP: metrics.MaskAP(&pred, &gt), Undefined: !defined}}, Pixels: pix}
}

// Score computes the report of records against ann under protocol. Every
// record must name a sample of ann.
func Score(ann *dataset.Annotations, protocol metrics.Protocol, records []samples.Record) (Report, error) {
	type indexed struct {
		at  int
		rec *samples.Record
	}
	order := make([]indexed, 0, len(records))
	for i := range records {
		at, ok := ann.Index(records[i].Pred.Sample)
		if !ok {
			return Report{}, &UnknownSampleError{Sample: records[i].Pred.Sample, Line: records[i].Line, Annotations: ann.Name}
		}
		order = append(order, indexed{at, &records[i]})
	}
	slices.SortFunc(order, func(a, b indexed) int { return a.at - b.at })

	kind := ann.Kind
	r := Report{
		Schema: SchemaName, Dataset: string(kind), Protocol: string(protocol),
		NAnnotated: len(ann.Samples), NSamples: len(records), FailedByReason: map[string]int{},
		RefineRun: make([]int, kind.Sources()), RefineSkipped: make([]int, kind.Sources()),
	}
	var all, successful []metrics.Entry
	var pixAll, pixOK metrics.PixelCounts
	var requests, promptTokens, completionTokens, latencies []float64
	for _, o := range order {
		p := &o.rec.Pred
		u := ScoreSample(kind, ann.Samples[o.at], p, protocol)
		all = append(all, u.Entries...)
		if u.Pixels != nil {
			addCounts(&pixAll, u.Pixels)
		}
		if p.OK() {
			successful = append(successful, u.Entries...)
			if u.Pixels != nil {
				addCounts(&pixOK, u.Pixels)
			}
			for k, src := range p.Sources[:min(len(p.Sources), kind.Sources())] {
				if src.Refined {
					r.RefineRun[k]++
				} else {
					r.RefineSkipped[k]++
				}
			}
		} else {
			r.NFailed++
			r.FailedByReason[p.Reason()]++
		}
		if p.Status != string(samples.StatusInputError) {
			requests = append(requests, float64(p.GAR.Requests))
			var pt, ct int
			if p.Tokens != nil {
				pt, ct = p.Tokens.Prompt, p.Tokens.Completion
			}
			promptTokens = append(promptTokens, float64(pt))
			completionTokens = append(completionTokens, float64(ct))
			latencies = append(latencies, float64(p.LatencyMS.Total))
		}
	}
	r.NSuccessful = r.NSamples - r.NFailed

	s := metrics.Summarize(all)
	r.NScored, r.CIoUUndefined = s.N, s.Undefined
	r.CIoUMean, r.CIoUAt03, r.CIoUAt05, r.AUC = s.CIoUMean, s.CIoUAt03, s.CIoUAt05, s.AUC
	r.SuccessCurve = curve(s.Curve)
	r.AP, r.CAP, r.PIAP = apMembers(kind, protocol, s, pixAll)
	if len(successful) > 0 {
		o := metrics.Summarize(successful)
		r.CIoUMeanSuccessfulOnly, r.CIoUAt03SuccessfulOnly = &o.CIoUMean, &o.CIoUAt03
		r.CIoUAt05SuccessfulOnly, r.AUCSuccessfulOnly = &o.CIoUAt05, &o.AUC
		r.SuccessCurveSuccessfulOnly = curve(o.Curve)
		r.APSuccessfulOnly, r.CAPSuccessfulOnly, r.PIAPSuccessfulOnly = apMembers(kind, protocol, o, pixOK)
	}
	r.RequestsMean = metrics.Mean(requests)
	r.PromptTokensMean = metrics.Mean(promptTokens)
	r.CompletionTokensMean = metrics.Mean(completionTokens)
	r.LatencyMSP50, r.LatencyMSP95 = percentile(latencies, 50), percentile(latencies, 95)
	return r, nil
}

func addCounts(dst, src *metrics.PixelCounts) {
	dst.Inter += src.Inter
	dst.Pred += src.Pred
	dst.GT += src.GT
	dst.N += src.N
}

// apMembers says which AP members a protocol defines for a benchmark.
func apMembers(kind dataset.Kind, protocol metrics.Protocol, s metrics.Summary, pix metrics.PixelCounts) (ap, cap, piap *float64) {
	mean, pixelAP := s.APMean, pix.AP()
	switch {
	case protocol == metrics.ProtocolStandard && kind.Duet():
		return nil, &mean, nil
	case kind.Duet():
		return &mean, &mean, &pixelAP
	}
	return &mean, nil, &pixelAP
}

func curve(f [metrics.GridPoints]float64) []CurvePoint {
	out := make([]CurvePoint, len(f))
	for i, t := range metrics.Thresholds() {
		out[i] = CurvePoint{T: t, Fraction: f[i]}
	}
	return out
}

// percentile is the nearest-rank p-th percentile (0 for no values).
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(values))
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
