package omnisim

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// expectedMs recomputes the documented model for one request running alone:
// every step costs decode·(1 + slowdown·(own sequences still decoding − 1)).
func expectedMs(cfg Config, computed int, contents []string) float64 {
	longest := 0
	lengths := make([]int, len(contents))
	for i, c := range contents {
		lengths[i] = (len(c) + 3) / 4
		longest = max(longest, lengths[i])
	}
	decode := 0.0
	for step := range longest {
		active := 0
		for _, l := range lengths {
			if l > step {
				active++
			}
		}
		decode += cfg.DecodeMsPerToken * (1 + cfg.BatchSlowdown*float64(active-1))
	}
	return cfg.BaseMs + float64(computed)*cfg.PrefillMsPerToken + decode
}

func closeTo(a, b float64) bool { return math.Abs(a-b) < 0.01 }

func TestDocumentedLatencyExample(t *testing.T) {
	g := newGPU(testConfig())
	sim, err := g.run(context.Background(), []prefixKey{{1}}, []int{500}, []int{60})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := 10 + 500*0.5 + 60*6.0; !closeTo(sim.totalMs, want) {
		t.Fatalf("500-token prompt, 60-token answer: %.1f ms, want %.1f", sim.totalMs, want)
	}
}

func TestSimulatedDurations(t *testing.T) {
	cfg := testConfig()
	_, ts := startServer(t, cfg)
	img, wav := plainJPEG(t, 224, 224, 1), makeWAV(t, 3, 16000, 1)
	o := chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav, temperature: temp(0)}

	uncached := post(t, ts.URL, o)
	cached := post(t, ts.URL, o)
	for name, r := range map[string]testResponse{"uncached": uncached, "cached": cached} {
		u := r.decoded.Usage
		if got, want := r.simulatedMs(t), expectedMs(cfg, u.PromptTokens-u.PromptTokensDetails.CachedTokens, r.contents()); !closeTo(got, want) {
			t.Errorf("%s: simulated %.3f ms, model says %.3f", name, got, want)
		}
	}
	if uncached.simulatedMs(t) <= cached.simulatedMs(t) {
		t.Fatalf("uncached request (%.1f ms) is not slower than the cached one (%.1f ms)", uncached.simulatedMs(t), cached.simulatedMs(t))
	}

	// n=5 prefills once and decodes five sequences as one batch.
	five := post(t, ts.URL, chatOpts{requestID: "n/f/1/analysis", text: analysisPrompt, image: img, audio: wav, n: 5, temperature: temp(0.4)})
	u := five.decoded.Usage
	if got, want := five.simulatedMs(t), expectedMs(cfg, u.PromptTokens-u.PromptTokensDetails.CachedTokens, five.contents()); !closeTo(got, want) {
		t.Fatalf("n=5: simulated %.3f ms, model says %.3f", got, want)
	}
	one := post(t, ts.URL, chatOpts{requestID: "n/f/1/analysis/t0", text: analysisPrompt, image: img, audio: wav, temperature: temp(0.4)})
	if five.simulatedMs(t) <= one.simulatedMs(t) {
		t.Fatalf("n=5 (%.1f ms) is not slower than n=1 (%.1f ms)", five.simulatedMs(t), one.simulatedMs(t))
	}
}

func TestTimeScaleSleeps(t *testing.T) {
	cfg := testConfig()
	cfg.TimeScale = 0.05
	_, ts := startServer(t, cfg)
	start := time.Now()
	r := post(t, ts.URL, chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: plainJPEG(t, 224, 224, 1), audio: makeWAV(t, 3, 16000, 1)})
	elapsed := time.Since(start)
	if floor := time.Duration(r.simulatedMs(t) * cfg.TimeScale * float64(time.Millisecond)); elapsed < floor-time.Millisecond {
		t.Fatalf("request took %s, less than simulated %.1f ms × %.2f", elapsed, r.simulatedMs(t), cfg.TimeScale)
	}
}

// TestPrefillQueue sends two uncached requests at once: the GPU prefills one
// after the other, so one of them reports a queue wait.
func TestPrefillQueue(t *testing.T) {
	cfg := testConfig()
	cfg.TimeScale, cfg.BaseMs, cfg.DecodeMsPerToken, cfg.PrefillMsPerToken = 1, 0, 0, 1
	_, ts := startServer(t, cfg)
	wav := makeWAV(t, 3, 16000, 1)
	bodies := [][]byte{
		chatOpts{text: locatePrompt, image: plainJPEG(t, 224, 224, 10), audio: wav}.body(t),
		chatOpts{text: locatePrompt, image: plainJPEG(t, 224, 224, 11), audio: wav}.body(t),
	}
	responses := concurrently(t, ts.URL, bodies, "n/f/1/locate")
	queues := make([]float64, len(responses))
	for i, r := range responses {
		var err error
		if queues[i], err = strconv.ParseFloat(r.header.Get("X-Omnisim-Queue-Ms"), 64); err != nil {
			t.Fatalf("X-Omnisim-Queue-Ms: %v", err)
		}
	}
	if max(queues[0], queues[1]) <= 0 {
		t.Fatalf("two simultaneous prefills both report no queue wait: %v", queues)
	}
}

// TestDecodeBatching runs two decodes at once; sharing the batch makes at
// least one of them slower than it is alone.
func TestDecodeBatching(t *testing.T) {
	cfg := testConfig()
	cfg.TimeScale, cfg.BaseMs, cfg.PrefillMsPerToken, cfg.DecodeMsPerToken = 0.5, 0, 0, 20
	_, ts := startServer(t, cfg)
	o := chatOpts{requestID: "n/f/1/locate", text: locatePrompt, image: plainJPEG(t, 224, 224, 1), audio: makeWAV(t, 3, 16000, 1), temperature: temp(0)}
	body := o.body(t)
	alone := postRaw(t, ts.URL, body, o.requestID)
	solo := alone.simulatedMs(t)
	if want := expectedMs(cfg, 0, alone.contents()); !closeTo(solo, want) {
		t.Fatalf("alone: %.3f ms, model says %.3f", solo, want)
	}
	var sims []float64
	for _, r := range concurrently(t, ts.URL, [][]byte{body, body}, o.requestID) {
		sims = append(sims, r.simulatedMs(t))
	}
	if max(sims[0], sims[1]) <= solo {
		t.Fatalf("concurrent decodes %v are no slower than one alone (%.1f ms)", sims, solo)
	}
}

func TestClientGoneStopsWork(t *testing.T) {
	cfg := testConfig()
	cfg.TimeScale, cfg.BaseMs = 1, 60_000
	s, ts := startServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions",
		bytes.NewReader(chatOpts{requestID: "n/f/1/audio", text: audioPrompt, audio: makeWAV(t, 1, 16000, 1)}.body(t)))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a 60 s request answered within 100 ms: %s", resp.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Cancelled != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the server kept sleeping after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// concurrently posts every body at once and returns the answers in order.
func concurrently(t *testing.T, url string, bodies [][]byte, requestID string) []testResponse {
	t.Helper()
	out := make([]testResponse, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() { out[i], errs[i] = doPost(url, body, requestID) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if out[i].status != http.StatusOK {
			t.Fatalf("status %d: %s", out[i].status, out[i].raw)
		}
	}
	return out
}
