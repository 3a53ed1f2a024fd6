package gar_test

// Integration tests of the Localizer against omnisim, the simulated model
// server, running in-process behind a loopback HTTP server. A recorder in
// front of omnisim sees every chat request as it arrived on the wire.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/omnisim"
	"github.com/garssl/garssld/omnisim/omnisimtest"
	"github.com/garssl/garssld/windowing"
)

// The test picture: a red rectangle on grey, at the default model size. The
// rectangle's edges sit on multiples of 16 so that JPEG's 4:2:0 chroma
// blocks do not smear red across them.
const (
	modelSize   = 224
	frameWidth  = 1280
	frameHeight = 720
)

var redRect = image.Rect(64, 80, 160, 176) // inclusive box [64 80 159 175]

// testJPEG draws the test picture. A variant other than 0 recolours one
// pixel of the bottom rows, far from the rectangle, so that every variant
// has different media bytes (so a different omnisim hash and prefix-cache
// key) but the same content. Its red channel is 0: never grey, never red.
func testJPEG(tb testing.TB, variant int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, modelSize, modelSize))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, redRect, image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	if variant != 0 {
		x, y := variant%modelSize, modelSize-1-(variant/modelSize)%16
		img.Set(x, y, color.RGBA{0, uint8(variant), uint8(variant >> 8), 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatalf("encode test JPEG: %v", err)
	}
	return buf.Bytes()
}

// testWAV is 3 s of a 440 Hz sine at 16 kHz, the window length of design §2.
func testWAV() []byte {
	samples := make([]int16, 3*windowing.SampleRate)
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/windowing.SampleRate))
	}
	return windowing.EncodeWAV(samples)
}

// testInput is window seq of stream "front" on node "robot".
func testInput(tb testing.TB, seq, variant int) gar.Input {
	tb.Helper()
	return gar.Input{
		RequestID: fmt.Sprintf("robot/front/%d", seq),
		ImageJPEG: testJPEG(tb, variant), ModelWidth: modelSize, ModelHeight: modelSize,
		WAV:        testWAV(),
		FrameWidth: frameWidth, FrameHeight: frameHeight,
	}
}

// recordedRequest is one chat request as omnisim received it.
type recordedRequest struct {
	id         string
	body       []byte
	start, end time.Time
}

// recorder sits in front of omnisim's handler. It keeps every chat request
// and the largest number of them that were being served at once. before,
// when set, runs ahead of omnisim with the request's id.
type recorder struct {
	sim    *omnisim.Server
	next   http.Handler
	before func(sim *omnisim.Server, id string)

	mu          sync.Mutex
	requests    []recordedRequest
	inFlight    int
	maxInFlight int
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		rec.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "recorder: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	id := r.Header.Get("X-Request-Id")
	rec.mu.Lock()
	rec.inFlight++
	rec.maxInFlight = max(rec.maxInFlight, rec.inFlight)
	rec.mu.Unlock()
	start := time.Now()
	if rec.before != nil {
		rec.before(rec.sim, id)
	}
	// net/http flushes a small answer only after this handler returns, so
	// the client cannot send its next request before inFlight drops.
	rec.next.ServeHTTP(w, r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.inFlight--
	rec.requests = append(rec.requests, recordedRequest{id: id, body: body, start: start, end: time.Now()})
}

// take returns the requests recorded so far and forgets them.
func (rec *recorder) take() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.requests
	rec.requests, rec.maxInFlight = nil, 0
	return out
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

func (rec *recorder) maxConcurrency() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.maxInFlight
}

// waitIdle waits until no request is being served, and reports whether that
// happened within d.
func (rec *recorder) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		rec.mu.Lock()
		idle := rec.inFlight == 0
		rec.mu.Unlock()
		if idle {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sim is an omnisim server on a loopback port.
type sim struct {
	*omnisim.Server
	rec     *recorder
	baseURL string // ends in /v1
}

// simConfig is omnisim's default configuration with a given seed, answering
// without simulated delays.
func simConfig(seed uint64) omnisim.Config {
	cfg := omnisim.DefaultConfig()
	cfg.Seed = seed
	cfg.TimeScale = 0
	return cfg
}

// startSim starts omnisim with cfg. before, when not nil, sees each chat
// request's id just before omnisim does.
func startSim(tb testing.TB, cfg omnisim.Config, before func(sim *omnisim.Server, id string)) *sim {
	tb.Helper()
	rec := &recorder{before: before}
	srv, url := omnisimtest.Serve(tb, cfg, func(next http.Handler) http.Handler { rec.next = next; return rec })
	rec.sim = srv // set before any request: the URL was not known until now
	return &sim{Server: srv, rec: rec, baseURL: url}
}

func (s *sim) clientConfig() mllm.Config { return clientConfigFor(s.baseURL) }

// clientConfigFor points a model client at baseURL. The in-flight cap leaves
// room for ten concurrent trials (K = 2, five trials each, without n).
func clientConfigFor(baseURL string) mllm.Config {
	return mllm.Config{
		Endpoints:        []string{baseURL},
		Model:            omnisim.DefaultModel,
		Timeout:          5 * time.Second,
		MaxInFlight:      16,
		StructuredOutput: true,
	}
}

func newClient(tb testing.TB, cfg mllm.Config) *mllm.Client {
	tb.Helper()
	c, err := mllm.New(cfg, nil, nil)
	if err != nil {
		tb.Fatalf("mllm.New: %v", err)
	}
	tb.Cleanup(c.CloseIdleConnections)
	return c
}

// newLocalizer builds a Localizer with the paper's gate thresholds unless
// cfg sets its own: NewLocalizer takes a zero threshold literally.
func newLocalizer(tb testing.TB, cfg gar.Config, c gar.Completer) *gar.Localizer {
	tb.Helper()
	if cfg.TauAV == 0 {
		cfg.TauAV = gar.DefaultTauAV
	}
	if cfg.TauAudio == 0 {
		cfg.TauAudio = gar.DefaultTauAudio
	}
	l, err := gar.NewLocalizer(cfg, c)
	if err != nil {
		tb.Fatalf("NewLocalizer: %v", err)
	}
	return l
}

// localize runs one window with a generous deadline.
func localize(tb testing.TB, l *gar.Localizer, in gar.Input) gar.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.Localize(ctx, in)
}

// wantRequestIDs spells out, from design §4 and docs/contracts.md, the
// request ids of one window: locate and audio, then per source its analysis
// (one request with n, or one per trial) and, when the gate sent it there,
// its refinement.
func wantRequestIDs(prefix string, refined []bool, trials int, withN bool) []string {
	ids := []string{prefix + "/locate", prefix + "/audio"}
	for k, r := range refined {
		source := ""
		if len(refined) > 1 {
			source = fmt.Sprintf("/s%d", k)
		}
		if withN {
			ids = append(ids, prefix+"/analysis"+source)
		} else {
			for i := range trials {
				ids = append(ids, fmt.Sprintf("%s/analysis%s/t%d", prefix, source, i))
			}
		}
		if r {
			ids = append(ids, prefix+"/refine"+source)
		}
	}
	return ids
}

// refinedByGate reads, per source, whether the gate sent it to refinement.
func refinedByGate(tb testing.TB, res gar.Result) []bool {
	tb.Helper()
	out := make([]bool, len(res.Sources))
	for k, s := range res.Sources {
		if s.Gate == nil {
			tb.Fatalf("source %d has no gate decision", k)
		}
		out[k] = !s.Gate.SkipRefine
	}
	return out
}

func requestIDs(reqs []recordedRequest) []string {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.id
	}
	return ids
}

// sameSet compares two id lists as multisets.
func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	count := map[string]int{}
	for _, s := range want {
		count[s]++
	}
	for _, s := range got {
		count[s]--
		if count[s] < 0 {
			return false
		}
	}
	return true
}

// stageOf reads the stage out of a request id robot/front/<seq>/<stage>/….
func stageOf(id string) string {
	parts := strings.Split(id, "/")
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

// TestLocalizeTrialsWithAndWithoutN checks design §3.2: N trials sent as one
// request with n = N, or as N requests …/t0 … …/t4, are the same trials, so
// consensus, gate and final box agree; only the number of requests differs.
func TestLocalizeTrialsWithAndWithoutN(t *testing.T) {
	const prefix = "robot/front/7"
	type run struct {
		res   gar.Result
		reqs  []recordedRequest
		stats omnisim.Stats
	}
	// Seeds 16 and 27 happen to pass the gate and skip refinement, the
	// others refine; the check after the loop keeps both paths covered.
	gateOutcomes := map[bool]bool{}
	for _, seed := range []uint64{1, 2, 3, 16, 27} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			in := testInput(t, 7, 0)
			runWith := func(supportsN bool) run {
				s := startSim(t, simConfig(seed), nil)
				l := newLocalizer(t, gar.Config{SupportsN: supportsN}, newClient(t, s.clientConfig()))
				res := localize(t, l, in)
				if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 1 {
					t.Fatalf("supports_n=%v: status %s, err %v, %d sources", supportsN, res.Status, res.Err, len(res.Sources))
				}
				return run{res: res, reqs: s.rec.take(), stats: s.Stats()}
			}
			withN, separate := runWith(true), runWith(false)

			if !reflect.DeepEqual(withN.res.Sources, separate.res.Sources) {
				t.Errorf("sources differ:\n  n:        %+v\n  separate: %+v", withN.res.Sources[0], separate.res.Sources[0])
			}
			if withN.res.Audio != separate.res.Audio {
				t.Errorf("audio differs: n %+v, separate %+v", withN.res.Audio, separate.res.Audio)
			}
			if src := withN.res.Sources[0]; len(src.RoleTags) == 0 || len(src.Anchors) == 0 {
				t.Errorf("consensus is empty (tags %v, anchors %v): the comparison above proves nothing", src.RoleTags, src.Anchors)
			}

			refined := refinedByGate(t, withN.res)
			gateOutcomes[refined[0]] = true
			wantN, wantSeparate := 3, 7
			if refined[0] {
				wantN, wantSeparate = 4, 8
			}
			for _, c := range []struct {
				name  string
				r     run
				withN bool
				count int
			}{{"n", withN, true, wantN}, {"separate", separate, false, wantSeparate}} {
				want := wantRequestIDs(prefix, refined, gar.DefaultAnalysisTrials, c.withN)
				if got := requestIDs(c.r.reqs); len(got) != c.count || !sameSet(got, want) {
					t.Errorf("%s: request ids %v, want %v", c.name, got, want)
				}
				if c.r.res.GAR.Requests != c.count || c.r.stats.Requests != int64(c.count) {
					t.Errorf("%s: result counts %d requests, server %d, want %d", c.name, c.r.res.GAR.Requests, c.r.stats.Requests, c.count)
				}
				if got := c.r.stats.ByStage[omnisim.StageAnalysis].Choices; got != gar.DefaultAnalysisTrials {
					t.Errorf("%s: server answered %d analysis choices, want %d", c.name, got, gar.DefaultAnalysisTrials)
				}
				if c.r.res.GAR.ValidTrials != gar.DefaultAnalysisTrials {
					t.Errorf("%s: %d valid trials, want %d", c.name, c.r.res.GAR.ValidTrials, gar.DefaultAnalysisTrials)
				}
			}
		})
	}
	if !gateOutcomes[true] || !gateOutcomes[false] {
		t.Errorf("the seeds exercised only refined=%v; pick seeds that cover both gate outcomes", gateOutcomes)
	}
}

// wireRequest is the part of a chat-completions body the wire checks read.
type wireRequest struct {
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type wirePart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
}

// TestLocalizeRequestWireShape checks design §4 on every request of a
// window: an X-Request-Id of the window, one system message byte-identical
// across the window, then one user message with the media first (image
// before audio, exactly the window's bytes) and the text last.
func TestLocalizeRequestWireShape(t *testing.T) {
	tests := []struct {
		name string
		cfg  gar.Config
	}{
		{"parallel n", gar.Config{SupportsN: true}},
		{"parallel separate trials", gar.Config{}},
		{"sequential", gar.Config{Schedule: gar.ScheduleSequential}},
		{"two sources", gar.Config{SupportsN: true, MaxSources: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, simConfig(3), nil)
			l := newLocalizer(t, tt.cfg, newClient(t, s.clientConfig()))
			in := testInput(t, 7, 0)
			if res := localize(t, l, in); res.Status != gar.StatusOK {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			reqs := s.rec.take()
			if len(reqs) < 4 {
				t.Fatalf("only %d requests", len(reqs))
			}
			var system json.RawMessage
			seen := map[string]bool{}
			for _, r := range reqs {
				if !strings.HasPrefix(r.id, "robot/front/7/") || seen[r.id] {
					t.Errorf("X-Request-Id %q: missing, foreign or repeated", r.id)
				}
				seen[r.id] = true
				checkWireBody(t, r, in, &system)
			}
		})
	}
}

// checkWireBody checks one request body; system holds the window's first
// system message and is set by the first call.
func checkWireBody(t *testing.T, r recordedRequest, in gar.Input, system *json.RawMessage) {
	t.Helper()
	var body wireRequest
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("%s: body is not JSON: %v", r.id, err)
		return
	}
	if len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[1].Role != "user" {
		t.Errorf("%s: want a system and a user message, got %d messages", r.id, len(body.Messages))
		return
	}
	if *system == nil {
		*system = body.Messages[0].Content
		var text string
		if err := json.Unmarshal(*system, &text); err != nil || text != gar.SystemPrompt {
			t.Errorf("%s: system message is not gar.SystemPrompt (%v)", r.id, err)
		}
	} else if !bytes.Equal(*system, body.Messages[0].Content) {
		t.Errorf("%s: system message differs from the window's first request", r.id)
	}

	var parts []wirePart
	if err := json.Unmarshal(body.Messages[1].Content, &parts); err != nil || len(parts) == 0 {
		t.Errorf("%s: user content is not an array of parts: %v", r.id, err)
		return
	}
	last := parts[len(parts)-1]
	if last.Type != "text" || last.Text == nil || *last.Text == "" {
		t.Errorf("%s: last part is %q, want non-empty text", r.id, last.Type)
	}
	var kinds []string
	for _, p := range parts[:len(parts)-1] {
		kinds = append(kinds, p.Type)
		switch p.Type {
		case "image_url":
			if p.ImageURL == nil {
				t.Errorf("%s: image part without image_url", r.id)
				continue
			}
			data, ok := strings.CutPrefix(p.ImageURL.URL, "data:image/jpeg;base64,")
			if got, err := base64.StdEncoding.DecodeString(data); !ok || err != nil || !bytes.Equal(got, in.ImageJPEG) {
				t.Errorf("%s: image part does not carry the window's JPEG", r.id)
			}
		case "input_audio":
			if p.InputAudio == nil {
				t.Errorf("%s: audio part without input_audio", r.id)
				continue
			}
			got, err := base64.StdEncoding.DecodeString(p.InputAudio.Data)
			if err != nil || !bytes.Equal(got, in.WAV) || p.InputAudio.Format != "wav" {
				t.Errorf("%s: audio part does not carry the window's WAV", r.id)
			}
		default:
			t.Errorf("%s: part %q before the text", r.id, p.Type)
		}
	}
	want := []string{"image_url", "input_audio"}
	if stageOf(r.id) == "audio" {
		want = []string{"input_audio"}
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("%s: media parts %v, want %v", r.id, kinds, want)
	}
}

// TestLocalizeBreaker: a failing server opens the breaker after the
// configured consecutive failures; while it is open windows end at once as
// mllm_unavailable without reaching the server; once healed and OpenFor has
// passed, windows succeed again.
func TestLocalizeBreaker(t *testing.T) {
	// OpenFor is long enough that a loaded machine still makes the second
	// window inside it.
	const failures, openFor = 3, time.Second
	s := startSim(t, simConfig(1), nil)
	if err := s.SetFaults(omnisim.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	cc := s.clientConfig()
	cc.Breaker = mllm.BreakerConfig{ConsecutiveFailures: failures, OpenFor: openFor}
	client := newClient(t, cc)
	l := newLocalizer(t, gar.Config{SupportsN: true}, client)

	res := localize(t, l, testInput(t, 1, 0))
	if res.Status != gar.StatusMLLMUnavailable || res.Err == nil {
		t.Fatalf("failing server: status %s, err %v", res.Status, res.Err)
	}
	if state := client.States()[0].Breaker; state != mllm.BreakerOpen {
		t.Fatalf("breaker %s after a failing window, want open", state)
	}
	// Locate and audio run concurrently, so one more attempt may have been
	// admitted just before the breaker opened.
	sent := s.rec.count()
	if sent < failures || sent > failures+1 || int64(sent) != s.Stats().Faults.Errors {
		t.Errorf("server saw %d requests (%d injected errors), want %d or %d", sent, s.Stats().Faults.Errors, failures, failures+1)
	}

	began := time.Now()
	res = localize(t, l, testInput(t, 2, 0))
	took := time.Since(began)
	if res.Status != gar.StatusMLLMUnavailable || !errors.Is(res.Err, mllm.ErrUnavailable) {
		t.Errorf("open breaker: status %s, err %v; want mllm_unavailable wrapping ErrUnavailable", res.Status, res.Err)
	}
	if now := s.rec.count(); now != sent {
		t.Errorf("server saw %d requests while the breaker was open", now-sent)
	}
	if res.GAR.Requests != 0 {
		t.Errorf("open breaker: payload counts %d requests, none reached the server", res.GAR.Requests)
	}
	if took > cc.Timeout/10 {
		t.Errorf("open breaker: Localize took %s, want well under the %s request timeout", took, cc.Timeout)
	}

	if err := s.SetFaults(omnisim.Faults{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(openFor + 100*time.Millisecond)
	// The half-open breaker admits one probe. Locate and audio race for it;
	// the loser waits for the probe's verdict, so the very first window
	// after healing is whole.
	res = localize(t, l, testInput(t, 3, 0))
	if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 1 {
		t.Errorf("healed server: status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
	}
	if state := client.States()[0].Breaker; state != mllm.BreakerClosed {
		t.Errorf("breaker %s after a good window, want closed", state)
	}
}

// TestLocalizeHungServerRespectsDeadline: a server that never answers costs
// a window its deadline, not more, and leaves no request hanging.
func TestLocalizeHungServerRespectsDeadline(t *testing.T) {
	s := startSim(t, simConfig(1), nil)
	if err := s.SetFaults(omnisim.Faults{TimeoutRate: 1}); err != nil {
		t.Fatal(err)
	}
	cc := s.clientConfig()
	cc.Timeout = 200 * time.Millisecond
	// Keep the breaker out of it: this test is about deadlines.
	cc.Breaker = mllm.BreakerConfig{ConsecutiveFailures: 100, OpenFor: time.Minute}
	l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, cc))

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	res := l.Localize(ctx, testInput(t, 1, 0))
	took := time.Since(began)

	if res.Status != gar.StatusMLLMUnavailable || res.Err == nil {
		t.Errorf("hung server: status %s, err %v", res.Status, res.Err)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say a deadline passed", res.Err)
	}
	// A behaviour bound, not a speed claim: a 1 s deadline must not turn
	// into minutes (omnisim hangs for 5 min unless the client gives up).
	if took < cc.Timeout || took > 3*time.Second {
		t.Errorf("Localize took %s, want between the %s request timeout and 3 s", took, cc.Timeout)
	}
	if len(res.Sources) != 0 {
		t.Errorf("%d sources from a server that never answered", len(res.Sources))
	}
	if !s.rec.waitIdle(2 * time.Second) {
		t.Error("requests still hanging in the server after Localize returned")
	}
	if st := s.Stats(); st.Faults.Timeouts < 2 || st.Requests != 0 {
		t.Errorf("server: %d hangs, %d answers; want locate and audio hung, nothing answered", st.Faults.Timeouts, st.Requests)
	}
}

// garbageAt makes omnisim answer garbage to the given stages only, by
// switching its fault settings just before each request. The stages of a
// window that run at the same time (locate and audio; a source's trials)
// share a setting, so no request sees another's switch.
func garbageAt(t *testing.T, stages ...string) func(*omnisim.Server, string) {
	return func(srv *omnisim.Server, id string) {
		f := omnisim.Faults{}
		if slices.Contains(stages, stageOf(id)) {
			f.GarbageRate = 1
		}
		if err := srv.SetFaults(f); err != nil {
			t.Errorf("SetFaults: %v", err)
		}
	}
}

// maxDeltaPx is MAX_DELTA_PX of design §3.5 at 224×224.
const maxDeltaPx = 18

func TestLocalizeGarbageEverywhere(t *testing.T) {
	cfg := simConfig(1)
	cfg.Faults.GarbageRate = 1
	s := startSim(t, cfg, nil)
	l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig()))
	res := localize(t, l, testInput(t, 7, 0))
	if res.Status != gar.StatusInvalidModelOutput || !errors.Is(res.Err, gar.ErrInvalidAnswer) {
		t.Errorf("status %s, err %v; want invalid_model_output wrapping ErrInvalidAnswer", res.Status, res.Err)
	}
	if len(res.Sources) != 0 {
		t.Errorf("%d sources without a usable box", len(res.Sources))
	}
	// Without a box there is nothing to analyse or refine.
	want := []string{"robot/front/7/locate", "robot/front/7/audio"}
	if got := requestIDs(s.rec.take()); !sameSet(got, want) {
		t.Errorf("request ids %v, want %v", got, want)
	}
	if g := s.Stats().Faults.Garbage; g != 2 {
		t.Errorf("server spoiled %d answers, want 2", g)
	}
}

// TestLocalizeGarbageAnalysis: trials that do not parse, or parse without a
// usable av_consistency, count as av 0 (design §3.3), so the gate sends the
// source to refinement and the window still ends ok.
func TestLocalizeGarbageAnalysis(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := startSim(t, simConfig(seed), garbageAt(t, "analysis"))
			l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig()))
			res := localize(t, l, testInput(t, 7, 0))
			if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 1 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			src := res.Sources[0]
			if src.AVConsistency != 0 || src.Gate.SkipRefine || !src.Refined {
				t.Errorf("av %v, skip refine %v, refined %v; want av 0 and refinement", src.AVConsistency, src.Gate.SkipRefine, src.Refined)
			}
			want := wantRequestIDs("robot/front/7", []bool{true}, gar.DefaultAnalysisTrials, true)
			if got := requestIDs(s.rec.take()); !sameSet(got, want) {
				t.Errorf("request ids %v, want %v", got, want)
			}
			if g := s.Stats().Faults.Garbage; g != 1 {
				t.Errorf("server spoiled %d answers, want the analysis request only", g)
			}
		})
	}
}

// TestLocalizeGarbageRefine: an unusable refinement answer leaves the
// initial box (design §3.5). omnisim's NaN and Infinity garbage keeps the
// rest of the object, so there "changed" and "ops" may still move the box,
// but never further than the clamp allows.
func TestLocalizeGarbageRefine(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := startSim(t, simConfig(seed), garbageAt(t, "refine"))
			// τ_audio = 1 sends every source to refinement: omnisim's
			// confidences stay below 1.
			l := newLocalizer(t, gar.Config{SupportsN: true, TauAudio: 1, KeepRaw: true}, newClient(t, s.clientConfig()))
			res := localize(t, l, testInput(t, 7, 0))
			if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 1 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			src := res.Sources[0]
			if !src.Refined || s.Stats().Faults.Garbage != 1 {
				t.Fatalf("refined %v after %d spoiled answers; want one spoiled refinement", src.Refined, s.Stats().Faults.Garbage)
			}
			for i := range 4 {
				if d := src.BBoxModel[i] - src.InitialBBoxModel[i]; d < -maxDeltaPx || d > maxDeltaPx || src.BBoxModel[i] < 0 || src.BBoxModel[i] >= modelSize {
					t.Errorf("final box %v strays from initial %v", src.BBoxModel, src.InitialBBoxModel)
				}
			}
			raw := src.Raw.Refine
			keepsObject := strings.Contains(raw, "NaN") || strings.Contains(raw, "Infinity")
			if !keepsObject && (src.BBoxModel != src.InitialBBoxModel || src.Changed) {
				t.Errorf("unusable answer %q moved the box %v → %v", raw, src.InitialBBoxModel, src.BBoxModel)
			}
		})
	}
}

// TestLocalizeTwoSources: with K = 2 both sources come back inside the
// image, each analysed (and refined when its gate says so) on its own.
func TestLocalizeTwoSources(t *testing.T) {
	for _, withN := range []bool{true, false} {
		t.Run(fmt.Sprintf("supports_n=%v", withN), func(t *testing.T) {
			s := startSim(t, simConfig(2), nil)
			l := newLocalizer(t, gar.Config{SupportsN: withN, MaxSources: 2}, newClient(t, s.clientConfig()))
			res := localize(t, l, testInput(t, 7, 0))
			if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 2 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			for k, src := range res.Sources {
				for _, b := range []gar.Box{src.BBoxModel, src.InitialBBoxModel} {
					if b[0] < 0 || b[1] < 0 || b[2] >= modelSize || b[3] >= modelSize || b[0] >= b[2] || b[1] >= b[3] {
						t.Errorf("source %d: box %v is not a box inside %dx%d", k, b, modelSize, modelSize)
					}
				}
				if src.Label == "" || len(src.RoleTags) == 0 {
					t.Errorf("source %d: label %q, tags %v; want its own audio class and analysis", k, src.Label, src.RoleTags)
				}
			}
			if res.Sources[0].Label == res.Sources[1].Label {
				t.Errorf("both sources labelled %q", res.Sources[0].Label)
			}
			if res.GAR.ValidTrials != 2*gar.DefaultAnalysisTrials {
				t.Errorf("%d valid trials, want %d", res.GAR.ValidTrials, 2*gar.DefaultAnalysisTrials)
			}
			want := wantRequestIDs("robot/front/7", refinedByGate(t, res), gar.DefaultAnalysisTrials, withN)
			if got := requestIDs(s.rec.take()); !sameSet(got, want) {
				t.Errorf("request ids %v, want %v", got, want)
			}
		})
	}
}

// TestLocalizeSequentialSchedule: the authors' schedule gives the same
// result as the parallel one and never has two requests in flight.
func TestLocalizeSequentialSchedule(t *testing.T) {
	// At a tenth of simulated time requests last tens of milliseconds, long
	// enough for the parallel schedule to overlap them even on a busy
	// machine.
	cfg := simConfig(6)
	cfg.TimeScale = 0.1
	in := testInput(t, 7, 0)

	par := startSim(t, cfg, nil)
	parRes := localize(t, newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, par.clientConfig())), in)
	seq := startSim(t, cfg, nil)
	seqRes := localize(t, newLocalizer(t, gar.Config{Schedule: gar.ScheduleSequential}, newClient(t, seq.clientConfig())), in)

	for name, res := range map[string]gar.Result{"parallel": parRes, "sequential": seqRes} {
		if res.Status != gar.StatusOK || res.Err != nil || len(res.Sources) != 1 {
			t.Fatalf("%s: status %s, err %v, %d sources", name, res.Status, res.Err, len(res.Sources))
		}
	}
	if !reflect.DeepEqual(parRes.Sources, seqRes.Sources) || parRes.Audio != seqRes.Audio {
		t.Errorf("results differ:\n  parallel:   %+v %+v\n  sequential: %+v %+v", parRes.Audio, parRes.Sources[0], seqRes.Audio, seqRes.Sources[0])
	}
	if got := par.rec.maxConcurrency(); got < 2 {
		t.Errorf("parallel schedule: at most %d request in flight; the overlap check below would prove nothing", got)
	}
	if got := seq.rec.maxConcurrency(); got != 1 {
		t.Errorf("sequential schedule: %d requests in flight at once, want 1", got)
	}

	// Sequential order is fixed: the trials go one by one as t0 … t4.
	reqs := seq.rec.take()
	want := wantRequestIDs("robot/front/7", refinedByGate(t, seqRes), gar.DefaultAnalysisTrials, false)
	if got := requestIDs(reqs); !slices.Equal(got, want) {
		t.Errorf("sequential request order %v, want %v", got, want)
	}
	for i := 1; i < len(reqs); i++ {
		if reqs[i].start.Before(reqs[i-1].end) {
			t.Errorf("%s started before %s ended", reqs[i].id, reqs[i-1].id)
		}
	}
}

func compileDetectionSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gar.DetectionSchema))
	if err != nil {
		t.Fatalf("detection schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "mem:///detection.v1.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("detection schema does not compile: %v", err)
	}
	return sch
}

// publishedSource is what the payload checks read back from JSON.
type publishedSource struct {
	BBox       [4]int   `json:"bbox"`
	BBoxModel  [4]int   `json:"bbox_model"`
	BearingDeg *float64 `json:"bearing_deg"`
}

// TestLocalizeDetectionPayload renders real results of every status the
// loop can produce as payload v1 and checks them against the JSON Schema,
// the frame mapping of the boxes and the optional bearing.
func TestLocalizeDetectionPayload(t *testing.T) {
	sch := compileDetectionSchema(t)
	start := time.Date(2025, 6, 1, 8, 30, 0, 0, time.UTC)
	meta := gar.WindowMeta{
		Node: "robot", RunID: "01JTESTRUN000", Stream: "front", Seq: 7,
		Start: start, End: start.Add(3 * time.Second),
		PTSStart: 126 * time.Second, PTSEnd: 129 * time.Second, FramePTS: 127500 * time.Millisecond,
		FrameWidth: frameWidth, FrameHeight: frameHeight, ModelWidth: modelSize, ModelHeight: modelSize,
		RMSDBFS: -23.5,
	}
	tests := []struct {
		name   string
		faults omnisim.Faults
		cfg    gar.Config
		hfov   float64
		want   gar.Status
	}{
		{"ok with camera", omnisim.Faults{}, gar.Config{SupportsN: true}, 87, gar.StatusOK},
		{"ok without camera", omnisim.Faults{}, gar.Config{SupportsN: true}, 0, gar.StatusOK},
		{"ok two sources", omnisim.Faults{}, gar.Config{SupportsN: true, MaxSources: 2}, 87, gar.StatusOK},
		{"mllm_unavailable", omnisim.Faults{ErrorRate: 1}, gar.Config{SupportsN: true}, 87, gar.StatusMLLMUnavailable},
		{"invalid_model_output", omnisim.Faults{GarbageRate: 1}, gar.Config{SupportsN: true}, 87, gar.StatusInvalidModelOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, simConfig(4), nil)
			if err := s.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			l := newLocalizer(t, tt.cfg, newClient(t, s.clientConfig()))
			in := testInput(t, 7, 0)
			in.HFOVDeg = tt.hfov
			res := localize(t, l, in)
			if res.Status != tt.want {
				t.Fatalf("status %s (err %v), want %s", res.Status, res.Err, tt.want)
			}
			text, err := json.Marshal(gar.NewDetection(meta, res))
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("payload rejected by the schema: %v\n%s", err, text)
			}

			var got struct {
				Status  gar.Status        `json:"status"`
				Sources []publishedSource `json:"sources"`
			}
			if err := json.Unmarshal(text, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("published status %q, want %q", got.Status, tt.want)
			}
			if tt.want == gar.StatusOK && len(got.Sources) != max(1, tt.cfg.MaxSources) {
				t.Errorf("published %d sources", len(got.Sources))
			}
			for k, src := range got.Sources {
				checkFrameBox(t, k, src)
				checkBearing(t, k, src, tt.hfov)
			}
		})
	}
}

// checkFrameBox maps bbox_model to the 1280×720 frame through pixel edges
// (x1·W/w and (x2+1)·W/w − 1, rounded) and compares with the published
// bbox.
func checkFrameBox(t *testing.T, k int, src publishedSource) {
	t.Helper()
	scale := [4]float64{frameWidth, frameHeight, frameWidth, frameHeight}
	var want [4]int
	for i, m := range src.BBoxModel {
		if i < 2 {
			want[i] = int(math.Round(float64(m) * scale[i] / modelSize))
		} else {
			want[i] = int(math.Round(float64(m+1)*scale[i]/modelSize)) - 1
		}
	}
	if src.BBox != want {
		t.Errorf("source %d: bbox %v for bbox_model %v, want %v", k, src.BBox, src.BBoxModel, want)
	}
}

// checkBearing: bearing_deg is there iff the camera's field of view is known,
// and then follows the pinhole model of the gar package doc.
func checkBearing(t *testing.T, k int, src publishedSource, hfov float64) {
	t.Helper()
	if hfov <= 0 {
		if src.BearingDeg != nil {
			t.Errorf("source %d: bearing_deg %v without a field of view", k, *src.BearingDeg)
		}
		return
	}
	if src.BearingDeg == nil {
		t.Errorf("source %d: no bearing_deg with hfov %v", k, hfov)
		return
	}
	cx := float64(src.BBoxModel[0]+src.BBoxModel[2]+1) / 2 / modelSize // pixel centres
	want := math.Atan((2*cx-1)*math.Tan(hfov/2*math.Pi/180)) * 180 / math.Pi
	if math.Abs(*src.BearingDeg-want) > 1e-9 {
		t.Errorf("source %d: bearing_deg %v, want %v", k, *src.BearingDeg, want)
	}
}

// TestLocalizeTruthSidecar: with omnisim's colour-matching truth aimed at
// the red rectangle, the loop ends within a few pixels of it, whether the
// gate skips refinement or not.
func TestLocalizeTruthSidecar(t *testing.T) {
	truthFile := filepath.Join(t.TempDir(), "truth.json")
	truth := `{"target_rgb":[255,0,0],"tolerance":60,"audio_class":"beep","audio_confidence":0.95}`
	if err := os.WriteFile(truthFile, []byte(truth), 0o600); err != nil {
		t.Fatal(err)
	}
	want := gar.Box{redRect.Min.X, redRect.Min.Y, redRect.Max.X - 1, redRect.Max.Y - 1}
	const slack = 3
	tests := []struct {
		name        string
		cfg         gar.Config
		wantRefined bool
	}{
		{"default gate", gar.Config{SupportsN: true}, false},
		// omnisim reports the sidecar's 0.95, below τ_audio = 1.
		{"forced refinement", gar.Config{SupportsN: true, TauAudio: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := simConfig(1)
			cfg.TruthFile = truthFile
			s := startSim(t, cfg, nil)
			res := localize(t, newLocalizer(t, tt.cfg, newClient(t, s.clientConfig())), testInput(t, 7, 0))
			if res.Status != gar.StatusOK || len(res.Sources) != 1 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			src := res.Sources[0]
			for i := range 4 {
				if d := src.BBoxModel[i] - want[i]; d < -slack || d > slack {
					t.Errorf("final box %v, want within %d px of the rectangle %v", src.BBoxModel, slack, want)
					break
				}
			}
			if src.Refined != tt.wantRefined || res.Audio.Label != "beep" {
				t.Errorf("refined %v, label %q; want refined %v, label beep", src.Refined, res.Audio.Label, tt.wantRefined)
			}
		})
	}
}

// TestLocalizeTokensCachedOnlyWhenReported: tokens.cached sums what the
// server reported and is left out, not 0, when it does not report it
// (vLLM without --enable-prompt-tokens-details).
func TestLocalizeTokensCachedOnlyWhenReported(t *testing.T) {
	for _, details := range []bool{true, false} {
		t.Run(fmt.Sprintf("prompt_tokens_details=%v", details), func(t *testing.T) {
			cfg := simConfig(1)
			cfg.PromptTokensDetails = details
			s := startSim(t, cfg, nil)
			l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig()))
			res := localize(t, l, testInput(t, 1, 0))
			if res.Status != gar.StatusOK {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			d, err := json.Marshal(gar.NewDetection(gar.WindowMeta{}, res))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case details && (res.Tokens.Cached == nil || *res.Tokens.Cached == 0):
				t.Errorf("cached tokens %v: the window's requests share a prefix the server reported", res.Tokens.Cached)
			case !details && (res.Tokens.Cached != nil || strings.Contains(string(d), `"cached"`)):
				t.Errorf("cached tokens unknown, yet published: %s", d)
			case res.Tokens.Prompt == 0:
				t.Errorf("no prompt tokens: %+v", res.Tokens)
			}
		})
	}
}
