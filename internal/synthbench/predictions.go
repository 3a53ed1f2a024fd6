package synthbench

import (
	"bufio"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/gar"
)

// PredictionFrame is the frame size of WritePredictions' lines.
const PredictionFrame = 640

// WritePredictions writes a samples.jsonl with one line per sample of ann:
// the first ground-truth box of each source moved by up to 10 pixels in a
// 640×360 frame, with bbox_norm the box's unrounded pixel edges as
// metrics.md defines them; every tenth sample failed (invalid model
// output). Lines are full payload v1 plus "sample".
func WritePredictions(t testing.TB, path string, ann *dataset.Annotations, seed uint64) {
	t.Helper()
	const w, h = PredictionFrame, 360
	rng := rand.New(rand.NewPCG(seed, 2))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	for i, s := range ann.Samples {
		meta := gar.WindowMeta{Node: "synth", RunID: "synth", Stream: "eval", Seq: uint64(i + 1),
			FrameWidth: w, FrameHeight: h, ModelWidth: 224, ModelHeight: 224}
		res := gar.Result{Status: gar.StatusOK, GAR: gar.GARInfo{AnalysisTrials: 5, Requests: 3 + rng.IntN(2)},
			Tokens:  gar.TokenUsage{Prompt: 1300 + rng.IntN(100), Completion: 200 + rng.IntN(50)},
			Latency: gar.LatencyMS{Total: int64(1000 + rng.IntN(1000))}}
		var failure *samples.Failure
		if i%10 == 9 {
			res.Status, res.Sources = gar.StatusInvalidModelOutput, nil
			failure = &samples.Failure{Reason: string(res.Status), Error: "locate answer: no box"}
		} else {
			for k := range ann.Kind.Sources() {
				var b gar.Box
				if k < len(s.Sources) {
					b = s.Sources[k].Box.FrameBox(w, h)
				}
				j := func() float64 { return float64(rng.IntN(21) - 10) }
				b = gar.Clip([4]float64{float64(b[0]) + j(), float64(b[1]) + j(), float64(b[2]) + j(), float64(b[3]) + j()}, w, h)
				res.Sources = append(res.Sources, gar.SourceResult{
					BBox: b, BBoxModel: b, InitialBBoxModel: b, Refined: rng.IntN(2) == 0, Label: "x",
					BBoxNorm: [4]float64{float64(b[0]) / w, float64(b[1]) / h, float64(b[2]+1) / w, float64(b[3]+1) / h},
				})
			}
		}
		line := samples.Line{Sample: s.ID, Detection: gar.NewDetection(meta, res), Failure: failure,
			Metrics: samples.Metrics{GAR: samples.Scores{CIoU: []float64{0}, AP: []float64{0}}, Standard: samples.Scores{CIoU: []float64{0}, AP: []float64{0}}}}
		b, err := line.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
