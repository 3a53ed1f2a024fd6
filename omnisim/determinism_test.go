package omnisim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// stageRequests is one request per stage for the same window.
func stageRequests(t testing.TB, img, wav []byte, structured bool) []chatOpts {
	schema := func(name string) string {
		if structured {
			return name
		}
		return ""
	}
	return []chatOpts{
		{requestID: "n/front/1/locate", schema: schema("garssl_locate"), text: locatePrompt, image: img, audio: wav, temperature: temp(0)},
		{requestID: "n/front/1/audio", schema: schema("garssl_audio"), text: audioPrompt, audio: wav, temperature: temp(0)},
		{requestID: "n/front/1/analysis", schema: schema("garssl_analysis"), text: analysisPrompt, image: img, audio: wav, n: 5, temperature: temp(0.4)},
		{requestID: "n/front/1/refine", schema: schema("garssl_refine"), text: refinePrompt, image: img, audio: wav, temperature: temp(0)},
	}
}

func TestSameSeedSameAnswers(t *testing.T) {
	cfg := testConfig()
	cfg.Seed = 42
	_, a := startServer(t, cfg)
	_, b := startServer(t, cfg)
	other := testConfig()
	other.Seed = 43
	_, c := startServer(t, other)

	differs := false
	for variant := range 3 {
		img, wav := plainJPEG(t, 224, 224, variant), makeWAV(t, 1, 16000, 1)
		for _, o := range stageRequests(t, img, wav, variant%2 == 0) {
			got, again, otherSeed := post(t, a.URL, o).contents(), post(t, b.URL, o).contents(), post(t, c.URL, o).contents()
			if !slices.Equal(got, again) {
				t.Fatalf("%s: same seed gave\n%q\nand\n%q", o.requestID, got, again)
			}
			differs = differs || !slices.Equal(got, otherSeed)
		}
	}
	if !differs {
		t.Fatal("seeds 42 and 43 gave identical answers for every stage of three windows")
	}
}

func TestChoicesEqualSeparateTrials(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 7), makeWAV(t, 1, 16000, 1)
	for _, structured := range []bool{true, false} {
		t.Run(fmt.Sprintf("structured=%v", structured), func(t *testing.T) {
			base := chatOpts{text: analysisPrompt, image: img, audio: wav, temperature: temp(0.4)}
			if structured {
				base.schema = "garssl_analysis"
			}
			together := base
			together.n, together.requestID = 5, "n/front/9/analysis"
			joint := post(t, ts.URL, together).contents()
			if len(joint) != 5 {
				t.Fatalf("n=5 gave %d choices", len(joint))
			}
			var separate []string
			for i := range 5 {
				one := base
				one.requestID = fmt.Sprintf("n/front/9/analysis/t%d", i)
				separate = append(separate, post(t, ts.URL, one).contents()...)
			}
			if !slices.Equal(joint, separate) {
				t.Fatalf("n=5 gave\n%q\nseparate trials gave\n%q", joint, separate)
			}
			if len(slices.Compact(slices.Sorted(slices.Values(joint)))) == 1 {
				t.Fatalf("five sampled trials are all identical: %q", joint[0])
			}
		})
	}
}

func TestGreedyIgnoresTrial(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 3), makeWAV(t, 1, 16000, 1)
	for _, stage := range []string{"analysis", "refine", "locate"} {
		o := chatOpts{requestID: "n/front/2/" + stage, schema: "garssl_" + stage, text: "go", image: img, audio: wav, temperature: temp(0), n: 3}
		joint := post(t, ts.URL, o).contents()
		o.n, o.requestID = 1, "n/front/2/"+stage+"/t4"
		later := post(t, ts.URL, o).contents()
		if joint[0] != joint[1] || joint[1] != joint[2] || later[0] != joint[0] {
			t.Fatalf("%s: greedy answers differ: %q and %q", stage, joint, later)
		}
	}
}

func TestUnstructuredIsSometimesWrapped(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 5), makeWAV(t, 1, 16000, 1)
	r := post(t, ts.URL, chatOpts{requestID: "n/front/3/analysis", text: analysisPrompt, image: img, audio: wav, n: 24, temperature: temp(0.4)})
	bare, wrapped := 0, 0
	for _, c := range r.contents() {
		var v analysisAnswer
		extractJSON(t, c, &v)
		if strings.HasPrefix(c, "{") {
			bare++
		} else {
			wrapped++
		}
	}
	if bare == 0 || wrapped == 0 {
		t.Fatalf("24 unstructured answers: %d bare, %d wrapped; want some of each", bare, wrapped)
	}
	s := post(t, ts.URL, chatOpts{requestID: "n/front/3/analysis", schema: "garssl_analysis", text: analysisPrompt, image: img, audio: wav, n: 24, temperature: temp(0.4)})
	for _, c := range s.contents() {
		if !strings.HasPrefix(c, "{") || !strings.HasSuffix(c, "}") {
			t.Fatalf("structured answer is not pure JSON: %q", c)
		}
	}
}

func TestMaxTokensCutsAnswer(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img, wav := plainJPEG(t, 224, 224, 5), makeWAV(t, 1, 16000, 1)
	r := post(t, ts.URL, chatOpts{schema: "garssl_refine", text: "go", image: img, audio: wav, maxTokens: 5})
	c := r.decoded.Choices[0]
	if c.FinishReason != "length" || len(c.Message.Content) > 20 || r.decoded.Usage.CompletionTokens != 5 {
		t.Fatalf("max_tokens 5 gave finish %q, %d bytes, %d tokens", c.FinishReason, len(c.Message.Content), r.decoded.Usage.CompletionTokens)
	}
}
