package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/metrics"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/gar"
)

// predict builds a prediction the way metrics.md defines it: bbox in
// inclusive frame pixels and bbox_norm its unrounded pixel edges.
func predict(id string, w, h int, boxes ...gar.Box) samples.Record {
	p := samples.Prediction{Sample: id, Status: "ok"}
	p.Frame.Width, p.Frame.Height = w, h
	for _, b := range boxes {
		p.Sources = append(p.Sources, samples.PredictedSource{
			BBox:     b.Float(),
			BBoxNorm: [4]float64{float64(b[0]) / float64(w), float64(b[1]) / float64(h), float64(b[2]+1) / float64(w), float64(b[3]+1) / float64(h)},
		})
	}
	return samples.Record{Pred: p}
}

func failed(id, status string, w, h int) samples.Record {
	p := samples.Prediction{Sample: id, Status: status}
	p.Frame.Width, p.Frame.Height = w, h
	return samples.Record{Pred: p}
}

func read(t *testing.T, kind dataset.Kind, js string) *dataset.Annotations {
	t.Helper()
	a, err := dataset.Read(kind, "test.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func ap(inter, pred, gt float64, n float64) float64 {
	if pred == 0 {
		return gt / n
	}
	p, r := inter/pred, inter/gt
	return p*r + (1-r)*gt/n
}

// TestScoreHandComputed checks both protocols on three VGG-SS samples in
// 320×320 frames (scale 0.7 to 224): a good box, a failed sample and a
// miss. The pixel counts are worked out in the comments.
func TestScoreHandComputed(t *testing.T) {
	ann := read(t, dataset.VGGSS, `[
		{"file":"a","class":"x","bbox":[[0.25,0.25,0.75,0.75],[0,0,0.1,0.1]]},
		{"file":"b","class":"y","bbox":[[0.5,0.5,1.0,1.0]]},
		{"file":"c","class":"z","bbox":[[0,0,0.25,0.25]]}]`)
	a := predict("a", 320, 320, gar.Box{80, 80, 239, 239})
	a.Pred.Sources[0].Refined = true
	a.Pred.GAR.Requests = 4
	b := failed("b", "mllm_unavailable", 320, 320)
	b.Pred.GAR.Requests = 2
	c := predict("c", 320, 320, gar.Box{240, 240, 319, 319})
	c.Pred.GAR.Requests = 3
	records := []samples.Record{a, b, c}
	const n = metrics.Pixels

	// gar: a's GT (first box only) is [80,80,240,240] → 56…168 inclusive,
	// 113² px; its prediction 56…167, 112² px, inside. b's GT
	// [160,160,319,319] → 112…223, 112² px, no prediction. c's GT 0…56,
	// 57² px; its prediction 168…223, disjoint.
	t.Run("gar", func(t *testing.T) {
		r, err := Score(ann, metrics.ProtocolGAR, records)
		if err != nil {
			t.Fatal(err)
		}
		ciouA := 12544.0 / 12769
		apA := ap(12544, 12544, 12769, n)
		want := map[string]float64{
			"ciou_mean": ciouA / 3, "ciou_at_0_5": 1.0 / 3, "ciou_at_0_3": 1.0 / 3,
			"auc":                       0.05 * ((1+1.0/3)/2 + 18*(1.0/3) + (1.0/3)/2),
			"ap":                        (apA + 12544.0/n + 3249.0/n) / 3,
			"piap":                      ap(12544, 12544+3136, 12769+12544+3249, 3*n),
			"ciou_mean_successful_only": ciouA / 2, "ciou_at_0_5_successful_only": 0.5,
			"auc_successful_only":  0.05 * ((1+0.5)/2 + 18*0.5 + 0.5/2),
			"ap_successful_only":   (apA + 3249.0/n) / 2,
			"piap_successful_only": ap(12544, 12544+3136, 12769+3249, 2*n),
			"requests_mean":        3,
		}
		checkReport(t, r, want)
		if r.NSamples != 3 || r.NFailed != 1 || r.NSuccessful != 2 || r.FailedByReason["mllm_unavailable"] != 1 || r.NAnnotated != 3 {
			t.Errorf("counts: %+v", r)
		}
		if !reflect.DeepEqual(r.RefineRun, []int{1}) || !reflect.DeepEqual(r.RefineSkipped, []int{1}) {
			t.Errorf("refine run/skipped = %v/%v, want [1]/[1]", r.RefineRun, r.RefineSkipped)
		}
		if r.CAP != nil {
			t.Error("cap is for duets")
		}
	})
	// standard: a's GT is the union of [56,168)² (112²) and [0,22)² (22²),
	// 13028 px; its prediction from bbox_norm [0.25,0.25,0.75,0.75] is
	// [56,168)². b's GT [112,224)². c's GT [0,56)², prediction [168,224)².
	t.Run("standard", func(t *testing.T) {
		r, err := Score(ann, metrics.ProtocolStandard, records)
		if err != nil {
			t.Fatal(err)
		}
		ciouA := 12544.0 / 13028
		apA := ap(12544, 12544, 13028, n)
		checkReport(t, r, map[string]float64{
			"ciou_mean": ciouA / 3, "ciou_at_0_5": 1.0 / 3,
			"ap":   (apA + 12544.0/n + 3136.0/n) / 3,
			"piap": ap(12544, 12544+3136, 13028+12544+3136, 3*n),
		})
	})
}

func checkReport(t *testing.T, r Report, want map[string]float64) {
	t.Helper()
	b, _ := json.Marshal(r)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		v, ok := got[k].(float64)
		if !ok || !near(v, w) {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}

func TestScoreDuets(t *testing.T) {
	// A 448×224 composite: source 1 on the left half, source 2 on the right.
	ann := read(t, dataset.VGGSSDuet, `[
		{"file":"d1","class_src1":"dog","bbox_src1":[0,0,0.5,1],"class_src2":"cat","bbox_src2":[0.5,0,0.5,1]},
		{"file":"d2","class_src1":"dog","bbox_src1":[0,0,0.5,0.5],"class_src2":"cat","bbox_src2":[0.5,0.5,0.5,0.5]}]`)
	// d1: both halves predicted, in swapped order; d2: one box only,
	// covering the GT of source 2 exactly.
	d1 := predict("d1", 448, 224, gar.Box{224, 0, 447, 223}, gar.Box{0, 0, 223, 223})
	d2 := predict("d2", 448, 224, gar.Box{224, 112, 447, 223})
	recs := []samples.Record{d1, d2}

	std, err := Score(ann, metrics.ProtocolStandard, recs)
	if err != nil {
		t.Fatal(err)
	}
	// Greedy matching: d1 records 1, 1; d2 records 1 (its box) and 0 for
	// the unmatched source 1. Masks at 224: each half is 112×224.
	if std.NScored != 4 || !near(std.CIoUMean, 0.75) || !near(std.CIoUAt03, 0.75) || std.AP != nil || std.PIAP != nil || std.CAP == nil {
		t.Errorf("standard duet report: %+v", std)
	}
	apHalf := ap(112*224, 112*224, 112*224, metrics.Pixels)
	apQuarter := ap(112*112, 112*112, 112*112, metrics.Pixels)
	if !near(*std.CAP, (apHalf+apHalf+apQuarter+0)/4) {
		t.Errorf("cap = %v", *std.CAP)
	}
	gr, err := Score(ann, metrics.ProtocolGAR, recs)
	if err != nil {
		t.Fatal(err)
	}
	// gar merges: d1's unions are both the whole image (1.0). d2's GT
	// quarters are drawn inclusively: 0…112 (113²) and 112…223 (112²),
	// sharing pixel (112,112); its prediction is the second quarter:
	// 12544 / (12769 + 12544 − 1), just under 0.5.
	if gr.NScored != 2 || !near(gr.CIoUMean, (1+12544.0/25312)/2) || gr.CIoUAt05 != 0.5 || gr.CAP == nil || *gr.CAP != *gr.AP || gr.PIAP == nil {
		t.Errorf("gar duet report: %+v", gr)
	}
	if len(gr.RefineRun) != 2 {
		t.Errorf("refine_run per source = %v", gr.RefineRun)
	}
}

func realVGGSS(t testing.TB) *dataset.Annotations {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	a, err := dataset.Load(dataset.VGGSS, filepath.Join(filepath.Dir(file), "..", "..", "testdata", "vggss", "vggss.json"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// jitteredPredictions predicts every clip of ann with its first GT box
// moved by a few pixels, in a 640×360 frame; every fifth sample fails.
func jitteredPredictions(ann *dataset.Annotations, seed uint64) []samples.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []samples.Record
	for i, s := range ann.Samples {
		if i%5 == 4 {
			out = append(out, failed(s.ID, "invalid_model_output", 640, 360))
			continue
		}
		var b gar.Box
		if len(s.Sources) > 0 {
			b = s.Sources[0].Box.FrameBox(640, 360)
		}
		j := func() float64 { return float64(rng.IntN(21) - 10) }
		b = gar.Clip([4]float64{float64(b[0]) + j(), float64(b[1]) + j(), float64(b[2]) + j(), float64(b[3]) + j()}, 640, 360)
		r := predict(s.ID, 640, 360, b)
		r.Line = i + 1
		out = append(out, r)
	}
	return out
}

func TestScoreRealVGGSS(t *testing.T) {
	ann := realVGGSS(t)
	recs := jitteredPredictions(ann, 7)
	for _, protocol := range []metrics.Protocol{metrics.ProtocolGAR, metrics.ProtocolStandard} {
		r, err := Score(ann, protocol, recs)
		if err != nil {
			t.Fatalf("%s: %v", protocol, err)
		}
		if r.NSamples != 5158 || r.NFailed != 1031 || r.NScored != 5158 {
			t.Errorf("%s: counts %d/%d/%d", protocol, r.NSamples, r.NFailed, r.NScored)
		}
		for _, v := range []float64{r.CIoUMean, r.CIoUAt05, r.AUC, *r.AP, *r.PIAP, *r.APSuccessfulOnly} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s: a metric is %v", protocol, v)
			}
		}
		// A few pixels of jitter on mostly large boxes: most samples pass
		// IoU@0.5, and failures count as misses.
		if !(*r.CIoUAt05SuccessfulOnly > 0.8 && r.CIoUAt05 < *r.CIoUAt05SuccessfulOnly) {
			t.Errorf("%s: ciou_at_0_5 %v, successful only %v", protocol, r.CIoUAt05, *r.CIoUAt05SuccessfulOnly)
		}
	}
	// The quirky clips, one by one.
	quirks := []struct {
		id         string
		protocol   metrics.Protocol
		emptyGT    bool
		definedFor bool // with an empty prediction
	}{
		{"M1P1xla8rg0_000000", metrics.ProtocolStandard, true, false}, // y1 = y2
		{"MKC9LvRivTM_000030", metrics.ProtocolStandard, true, false}, // x2 = -2.88e16
		{"MKC9LvRivTM_000030", metrics.ProtocolGAR, false, true},      // gar orders the corners
		{"M1P1xla8rg0_000000", metrics.ProtocolGAR, false, true},      // gar widens the collapsed pair
		{"UyCw7pCgYg8_000055", metrics.ProtocolStandard, false, true}, // one degenerate box among three
		{"Db6Hjt0x28k_000056", metrics.ProtocolStandard, false, true}, // union with a good box
		{"7Soo7mXCnq0_000063", metrics.ProtocolGAR, false, true},      // both far corners negative
		{"c-8SLUH5pp4_000030", metrics.ProtocolGAR, false, true},      // x1 = x2 = 1.0 on the far edge
		{"c-8SLUH5pp4_000030", metrics.ProtocolStandard, false, true}, // second box carries it
		{"sYIymaJi6tc_000090", metrics.ProtocolStandard, false, true}, // four boxes
		{"P-NCCepeHdI_000125", metrics.ProtocolGAR, false, true},      // integer literal and a huge y2
		{"YBd5lEnpT_8_000000", metrics.ProtocolStandard, false, true}, // first box x1 = x2 = 0
		{"UMidlzROhC0_000082", metrics.ProtocolGAR, false, true},      // y1 = y2 = 0.9875
		{"REDLY6m3Muw_000042", metrics.ProtocolStandard, false, true}, // inverted first box
		{"8_rFjamYo1Y_000022", metrics.ProtocolGAR, false, true},      // x1 = x2 = 0
		{"-ANxUxvGASw_000010", metrics.ProtocolGAR, false, true},      // id starting with '-'
		{"2xBIHi3oqy4_000030", metrics.ProtocolStandard, false, true}, // union
		{"pbVP6Z1c4_k_000420", metrics.ProtocolStandard, false, true}, // union
		{"qLVjaU5V9f0_000150", metrics.ProtocolStandard, false, true}, // union
		{"5VCZHHd4UKI_000098", metrics.ProtocolStandard, false, true}, // union
		{"Fot4v0DdGyE_000020", metrics.ProtocolStandard, false, true}, // union
		{"MKC9LvRivTM_000030", metrics.ProtocolStandard, true, false}, // again: it stays empty
	}
	for _, q := range quirks {
		s, ok := ann.Lookup(q.id)
		if !ok {
			t.Fatalf("%s not in the file", q.id)
		}
		empty := failed(q.id, "mllm_unavailable", 640, 360).Pred
		u := ScoreSample(dataset.VGGSS, s, &empty, q.protocol)
		if u.Entries[0].Undefined == q.definedFor || u.Entries[0].CIoU != 0 {
			t.Errorf("%s (%s) with no prediction: %+v, want undefined=%v", q.id, q.protocol, u.Entries[0], !q.definedFor)
		}
		if (u.Pixels.GT == 0) != q.emptyGT {
			t.Errorf("%s (%s): GT has %d px, want empty=%v", q.id, q.protocol, u.Pixels.GT, q.emptyGT)
		}
		whole := predict(q.id, 640, 360, gar.Box{0, 0, 639, 359}).Pred
		u = ScoreSample(dataset.VGGSS, s, &whole, q.protocol)
		if q.emptyGT && (u.Entries[0].CIoU != 0 || u.Entries[0].AP != 0 || u.Entries[0].Undefined) {
			t.Errorf("%s (%s): a full-frame box against empty GT gives %+v, want cIoU 0, AP 0", q.id, q.protocol, u.Entries[0])
		}
		if !q.emptyGT && !(u.Entries[0].CIoU > 0) {
			t.Errorf("%s (%s): a full-frame box gives cIoU %v", q.id, q.protocol, u.Entries[0].CIoU)
		}
	}
}

func TestScoreOrderAndSubset(t *testing.T) {
	ann := realVGGSS(t)
	recs := jitteredPredictions(ann, 3)[:400] // a subset scores against the full file
	want, err := Score(ann, metrics.ProtocolStandard, recs)
	if err != nil {
		t.Fatal(err)
	}
	if want.NSamples != 400 || want.NAnnotated != 5158 {
		t.Errorf("subset counts %d of %d", want.NSamples, want.NAnnotated)
	}
	shuffled := append([]samples.Record(nil), recs...)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got, err := Score(ann, metrics.ProtocolStandard, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("the report depends on the order of the lines")
	}

	bad := append(recs[:2:2], predict("not-a-clip", 10, 10, gar.Box{0, 0, 1, 1}))
	bad[2].Line = 3
	_, err = Score(ann, metrics.ProtocolGAR, bad)
	var unknown *UnknownSampleError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), `"not-a-clip"`) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("unknown sample: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{50, 10, 40, 20, 30}
	if percentile(v, 50) != 30 || percentile(v, 95) != 50 || percentile(v, 0) != 10 || percentile(nil, 50) != 0 {
		t.Errorf("percentiles %v %v %v", percentile(v, 50), percentile(v, 95), percentile(v, 0))
	}
}

func TestWriteMarkdownAndCurve(t *testing.T) {
	ann := read(t, dataset.VGGSSDuet, `[{"file":"d1","bbox_src1":[0,0,0.5,1],"bbox_src2":[0.5,0,0.5,1]}]`)
	r, err := Score(ann, metrics.ProtocolGAR, []samples.Record{predict("d1", 448, 224, gar.Box{0, 0, 223, 223})})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, r, []Setting{{"model", "Qwen/Qwen2.5-Omni-7B"}, {"analysis trials N", "5"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VGGSound-Duet", "| | CAP | CIoU@0.3 | AUC |", "| 47.2 | 77.6 | 45.8 |", "| analysis trials N | 5 |", "success_curve.png"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
	path := filepath.Join(t.TempDir(), "curve.png")
	if err := WriteCurvePNG(path, r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("success curve is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("success curve is %v", b)
	}
}

// TestScoreSumsInAnnotationOrder: float sums depend on order, so Score sums
// in annotation order whatever the order of the lines (a resumed run's
// lines are in another order). cIoUs 0.1, 0.2, 0.3 sum to
// 0.6000000000000001 in that order and to 0.6 from the other end.
func TestScoreSumsInAnnotationOrder(t *testing.T) {
	ann := read(t, dataset.MUSICSolo, `[
		{"file":"a","bbox":[0,0,0.044642857142857144,0.004464285714285714]},
		{"file":"b","bbox":[0,0,0.044642857142857144,0.004464285714285714]},
		{"file":"c","bbox":[0,0,0.044642857142857144,0.004464285714285714]}]`) // 10×1 px at 224
	// Predictions of 1, 2 and 3 of those 10 pixels.
	line := func(id string, px int) samples.Record {
		return predict(id, 224, 224, gar.Box{0, 0, px - 1, 0})
	}
	r, err := Score(ann, metrics.ProtocolStandard, []samples.Record{line("c", 3), line("b", 2), line("a", 1)})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := 0.1, 0.2, 0.3 // variables: Go constant arithmetic is exact
	if want := ((a + b) + c) / 3; r.CIoUMean != want || want == ((c+b)+a)/3 {
		t.Errorf("ciou_mean = %v, want %v (the sum in annotation order)", r.CIoUMean, want)
	}
}
