package omnisim

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// Wire shapes as docs/contracts.md states them, declared here rather than
// reusing the package's own types so the test checks the contract.
type wireLocate struct {
	BBox        []float64 `json:"bbox"`
	Description string    `json:"description"`
}

type wireAudio struct {
	AudioClass string  `json:"audio_class"`
	Confidence float64 `json:"audio_confidence_score"`
}

type wireAnalysis struct {
	AV          *float64 `json:"av_consistency"`
	RoleTags    []string `json:"role_tags"`
	AnchorVotes []struct {
		Anchor string  `json:"anchor"`
		Score  float64 `json:"score"`
	} `json:"anchor_votes"`
	Keep *bool `json:"keep"`
}

type wireRefine struct {
	BBox               []float64       `json:"bbox"`
	Changed            *bool           `json:"changed"`
	Ops                json.RawMessage `json:"ops"`
	RefinedDescription string          `json:"refined_description"`
}

func checkBox(t *testing.T, b []float64, w, h int) {
	t.Helper()
	if len(b) != 4 {
		t.Fatalf("bbox %v has %d numbers", b, len(b))
	}
	for _, v := range b {
		if v != math.Trunc(v) {
			t.Fatalf("bbox %v is not integers", b)
		}
	}
	if !(0 <= b[0] && b[0] < b[2] && b[2] <= float64(w-1) && 0 <= b[1] && b[1] < b[3] && b[3] <= float64(h-1)) {
		t.Fatalf("bbox %v is not an ordered box inside %dx%d", b, w, h)
	}
}

func TestAnswerShapes(t *testing.T) {
	_, ts := startServer(t, testConfig())
	keeps, drops := 0, 0
	ops := map[string]int{}
	unchanged, bboxOnly := 0, 0
	sizes := [][2]int{{224, 224}, {112, 84}, {308, 196}}
	for window := range 9 {
		size := sizes[window%len(sizes)]
		w, h := size[0], size[1]
		img, wav := plainJPEG(t, w, h, window), makeWAV(t, 1, 16000, 1)
		id := fmt.Sprintf("n/front/%d/", window)

		var loc wireLocate
		extractJSON(t, post(t, ts.URL, chatOpts{requestID: id + "locate", text: "go", image: img, audio: wav, temperature: temp(0)}).contents()[0], &loc)
		checkBox(t, loc.BBox, w, h)
		if loc.Description == "" {
			t.Fatal("locate description is empty")
		}

		var au wireAudio
		extractJSON(t, post(t, ts.URL, chatOpts{requestID: id + "audio", text: "go", audio: wav, temperature: temp(0)}).contents()[0], &au)
		if au.AudioClass == "" || au.Confidence < 0 || au.Confidence > 1 {
			t.Fatalf("audio answer %+v", au)
		}

		for _, c := range post(t, ts.URL, chatOpts{requestID: id + "analysis", text: analysisPrompt, image: img, audio: wav, n: 5, temperature: temp(0.4)}).contents() {
			var an wireAnalysis
			extractJSON(t, c, &an)
			if an.AV == nil || *an.AV < 0 || *an.AV > 1 || an.Keep == nil || len(an.RoleTags) == 0 || len(an.RoleTags) > 4 || len(an.AnchorVotes) > 5 {
				t.Fatalf("analysis answer %s", c)
			}
			for _, v := range an.AnchorVotes {
				if v.Anchor == "" || v.Score < 0 || v.Score > 1 {
					t.Fatalf("anchor vote %+v", v)
				}
			}
			if *an.Keep {
				keeps++
			} else {
				drops++
			}
		}

		prev := []float64{float64(w) / 4, float64(h) / 4, float64(w) / 2, float64(h) / 2}
		prevText := fmt.Sprintf("Refine. previous_bbox: [%.0f, %.0f, %.0f, %.0f]", prev[0], prev[1], prev[2], prev[3])
		// Sampled refinements show the variety a greedy one per window would
		// take many windows to show.
		refined := post(t, ts.URL, chatOpts{requestID: id + "refine", text: prevText, image: img, audio: wav, n: 6, temperature: temp(0.7)})
		for _, c := range refined.contents() {
			var rf wireRefine
			extractJSON(t, c, &rf)
			checkBox(t, rf.BBox, w, h)
			maxDelta := math.Max(4, math.Round(0.08*math.Min(float64(w), float64(h))))
			for i := range 4 {
				if math.Abs(rf.BBox[i]-math.Round(prev[i])) > maxDelta {
					t.Fatalf("refined %v moved more than %v from %v", rf.BBox, maxDelta, prev)
				}
			}
			if rf.Changed == nil || rf.RefinedDescription == "" {
				t.Fatalf("refine answer %s", c)
			}
			switch {
			case !*rf.Changed:
				unchanged++
			case string(rf.Ops) == "null":
				bboxOnly++
			default:
				var op struct {
					Type string `json:"type"`
				}
				if err := json.Unmarshal(rf.Ops, &op); err != nil {
					t.Fatalf("ops %s: %v", rf.Ops, err)
				}
				ops[op.Type]++
			}
		}
	}
	if keeps == 0 || drops == 0 {
		t.Errorf("analysis trials: %d keep, %d not; want both so that some windows are gated and some refined", keeps, drops)
	}
	if unchanged == 0 || bboxOnly == 0 || len(ops) != 4 {
		t.Errorf("refine variety: %d unchanged, %d bbox only, ops %v", unchanged, bboxOnly, ops)
	}
}

func TestMultiSourceShapes(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 11), makeWAV(t, 3, 16000, 1)
	var loc struct {
		Sources []wireLocate `json:"sources"`
	}
	extractJSON(t, post(t, ts.URL, chatOpts{schema: "garssl_locate_multi", text: "Locate K=3 sources", image: img, audio: wav, temperature: temp(0)}).contents()[0], &loc)
	if len(loc.Sources) != 3 {
		t.Fatalf("locate multi gave %d sources, want 3", len(loc.Sources))
	}
	for _, s := range loc.Sources {
		checkBox(t, s.BBox, 224, 224)
	}
	var au struct {
		Sources []wireAudio `json:"sources"`
	}
	extractJSON(t, post(t, ts.URL, chatOpts{schema: "garssl_audio_multi", text: "Classify exactly two sources", audio: wav, temperature: temp(0)}).contents()[0], &au)
	if len(au.Sources) != 2 || au.Sources[0].AudioClass == au.Sources[1].AudioClass {
		t.Fatalf("audio multi gave %+v, want two different classes", au.Sources)
	}
}

func TestPreviousBox(t *testing.T) {
	tests := []struct {
		text string
		want *box
	}{
		{"previous_bbox: [10, 20, 30, 40] other [1,2,3,4]", &box{10, 20, 30, 40}},
		{"first [5,6,7,8] then previous_bbox=[10.4,20.6,30,40]", &box{10, 21, 30, 40}},
		{"no key, just [5, 6, 70, 80]", &box{5, 6, 70, 80}},
		{"normalised previous_bbox [0.1, 0.2, 0.5, 0.5]", &box{20, 40, 100, 100}},
		{"out of range previous_bbox [-5, 10, 900, 30]", &box{0, 10, 199, 30}},
		{"nothing here", nil},
		{"three numbers [1,2,3]", nil},
	}
	for _, tc := range tests {
		got := previousBox(tc.text, 200, 200)
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("previousBox(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}
