package omnisim

import (
	"fmt"
	"image/color"
	"math"
	"strings"
	"testing"
)

type rect struct{ x1, y1, x2, y2 int } // inclusive

func (r rect) has(x, y int) bool { return x >= r.x1 && x <= r.x2 && y >= r.y1 && y <= r.y2 }

// sceneJPEG is a grey picture with coloured rectangles.
func sceneJPEG(t testing.TB, w, h int, rects []rect, colours []color.RGBA) []byte {
	return makeJPEG(t, w, h, func(x, y int) color.RGBA {
		for i, r := range rects {
			if r.has(x, y) {
				return colours[i]
			}
		}
		return color.RGBA{R: 128, G: 128, B: 128, A: 255}
	})
}

func nearBox(got []float64, want rect, tolerance float64) bool {
	w := []float64{float64(want.x1), float64(want.y1), float64(want.x2), float64(want.y2)}
	for i := range w {
		if math.Abs(got[i]-w[i]) > tolerance {
			return false
		}
	}
	return len(got) == 4
}

var (
	red  = color.RGBA{R: 255, A: 255}
	blue = color.RGBA{B: 255, A: 255}
)

func TestTruthSidecar(t *testing.T) {
	cfg := testConfig()
	cfg.TruthFile = writeFile(t, "truth.json", `{"target_rgb":[255,0,0],"tolerance":60,"audio_class":"beep","min_pixels":20}`)
	_, ts := startServer(t, cfg)
	target := rect{61, 83, 139, 150}
	img, wav := sceneJPEG(t, 224, 224, []rect{target}, []color.RGBA{red}), makeWAV(t, 3, 16000, 1)

	var loc wireLocate
	extractJSON(t, post(t, ts.URL, chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav, temperature: temp(0)}).contents()[0], &loc)
	if !nearBox(loc.BBox, target, 2) {
		t.Fatalf("locate box %v, want %v within 2 px", loc.BBox, target)
	}

	var au wireAudio
	extractJSON(t, post(t, ts.URL, chatOpts{requestID: "n/f/1/audio", text: audioPrompt, audio: wav, temperature: temp(0)}).contents()[0], &au)
	if au.AudioClass != "beep" || au.Confidence < 0.9 {
		t.Fatalf("audio answer %+v, want beep with high confidence", au)
	}

	// Refinement from a box far to the upper left moves every side toward
	// the target, by at most MAX_DELTA_PX (18 at 224).
	far := []float64{10, 10, 60, 60}
	var rf wireRefine
	extractJSON(t, post(t, ts.URL, chatOpts{requestID: "n/f/1/refine", text: fmt.Sprintf("Refine. previous_bbox: [%g, %g, %g, %g]", far[0], far[1], far[2], far[3]),
		image: img, audio: wav, temperature: temp(0)}).contents()[0], &rf)
	want := []float64{float64(target.x1), float64(target.y1), float64(target.x2), float64(target.y2)}
	for i := range 4 {
		step := rf.BBox[i] - far[i]
		if step <= 0 || step > 18 || math.Abs(want[i]-rf.BBox[i]) >= math.Abs(want[i]-far[i]) {
			t.Fatalf("refine %v from %v does not step toward %v by at most 18 px", rf.BBox, far, want)
		}
	}
	if rf.Changed == nil || !*rf.Changed {
		t.Fatalf("refine moved the box but says changed=%v", rf.Changed)
	}

	// A previous box on the target: analysis is confident and refine keeps it.
	onTarget := fmt.Sprintf("previous_bbox: [%g, %g, %g, %g]", loc.BBox[0], loc.BBox[1], loc.BBox[2], loc.BBox[3])
	for _, c := range post(t, ts.URL, chatOpts{requestID: "n/f/1/analysis", text: "av_consistency please. " + onTarget, image: img, audio: wav, n: 5, temperature: temp(0.4)}).contents() {
		var an wireAnalysis
		extractJSON(t, c, &an)
		if *an.AV < 0.7 || !*an.Keep {
			t.Fatalf("analysis of a box on the target: %s", c)
		}
	}
	extractJSON(t, post(t, ts.URL, chatOpts{requestID: "n/f/1/refine", text: "Refine. " + onTarget, image: img, audio: wav, temperature: temp(0)}).contents()[0], &rf)
	if *rf.Changed || !nearBox(rf.BBox, target, 2) {
		t.Fatalf("refine of a box on the target: %+v", rf)
	}
}

func TestTruthMultiSource(t *testing.T) {
	cfg := testConfig()
	cfg.TruthFile = writeFile(t, "truth.json", `{"min_pixels":20,"sources":[
		{"target_rgb":[255,0,0],"audio_class":"beep"},
		{"target_rgb":[0,0,255],"audio_class":"whistle","audio_confidence":0.8}]}`)
	_, ts := startServer(t, cfg)
	rects := []rect{{20, 30, 80, 90}, {140, 120, 200, 180}}
	img, wav := sceneJPEG(t, 224, 224, rects, []color.RGBA{red, blue}), makeWAV(t, 3, 16000, 1)

	var loc struct {
		Sources []wireLocate `json:"sources"`
	}
	extractJSON(t, post(t, ts.URL, chatOpts{schema: "garssl_locate_multi", text: "Locate exactly two sources", image: img, audio: wav, temperature: temp(0)}).contents()[0], &loc)
	if len(loc.Sources) != 2 || !nearBox(loc.Sources[0].BBox, rects[0], 2) || !nearBox(loc.Sources[1].BBox, rects[1], 2) {
		t.Fatalf("multi locate %+v, want %v", loc.Sources, rects)
	}
	var au struct {
		Sources []wireAudio `json:"sources"`
	}
	extractJSON(t, post(t, ts.URL, chatOpts{schema: "garssl_audio_multi", text: "K=2", audio: wav, temperature: temp(0)}).contents()[0], &au)
	if len(au.Sources) != 2 || au.Sources[0] != (wireAudio{"beep", 0.95}) || au.Sources[1] != (wireAudio{"whistle", 0.8}) {
		t.Fatalf("multi audio %+v", au.Sources)
	}
}

func TestTruthFallsBackWithoutMatch(t *testing.T) {
	cfg := testConfig()
	cfg.TruthFile = writeFile(t, "truth.json", `{"target_rgb":[0,255,0],"audio_class":"beep"}`)
	_, ts := startServer(t, cfg)
	img := sceneJPEG(t, 224, 224, []rect{{60, 80, 140, 150}}, []color.RGBA{red})
	var loc wireLocate
	extractJSON(t, post(t, ts.URL, chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: makeWAV(t, 3, 16000, 1)}).contents()[0], &loc)
	checkBox(t, loc.BBox, 224, 224)
	if strings.Contains(loc.Description, "colour") {
		t.Fatalf("no green pixel, yet the answer claims a colour match: %q", loc.Description)
	}
}

func TestTruthFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantMsg string
	}{
		{"not JSON", `{`, "not a truth sidecar"},
		{"unknown member", `{"target_rbg":[1,2,3]}`, "target_rbg"},
		{"no target", `{"min_pixels":5}`, "no target"},
		{"both forms", `{"target_rgb":[1,2,3],"sources":[{"target_rgb":[1,2,3]}]}`, "not both"},
		{"channel range", `{"target_rgb":[256,0,0]}`, "0..255"},
		{"tolerance range", `{"target_rgb":[1,2,3],"tolerance":-1}`, "tolerance"},
		{"confidence range", `{"target_rgb":[1,2,3],"audio_confidence":2}`, "audio_confidence"},
		{"min pixels", `{"target_rgb":[1,2,3],"min_pixels":0}`, "min_pixels"},
		{"source without colour", `{"sources":[{"audio_class":"x"}]}`, "sources[0]: target_rgb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TruthFile = writeFile(t, "truth.json", tc.content)
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), "--truth") {
				t.Fatalf("New = %v, want an error naming --truth and mentioning %q", err, tc.wantMsg)
			}
		})
	}
}
