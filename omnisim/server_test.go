package omnisim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBadRequests(t *testing.T) {
	_, ts := startServer(t, testConfig())
	img := base64.StdEncoding.EncodeToString(plainJPEG(t, 56, 56, 0))
	wav := base64.StdEncoding.EncodeToString(makeWAV(t, 1, 16000, 1))
	imagePart := `{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,` + img + `"}}`
	audioPart := `{"type":"input_audio","input_audio":{"data":"` + wav + `","format":"wav"}}`
	textPart := `{"type":"text","text":"Locate the bbox"}`
	user := func(parts ...string) string {
		return `{"messages":[{"role":"system","content":"sys"},{"role":"user","content":[` + strings.Join(parts, ",") + `]}]}`
	}
	tests := []struct {
		name      string
		body      string
		requestID string
		status    int
		wantMsg   string
	}{
		{"malformed JSON", `{"messages":[`, "", 400, "not valid JSON"},
		{"not an object", `[1,2]`, "", 400, "not valid JSON"},
		{"no messages", `{"model":"` + DefaultModel + `"}`, "", 400, "messages must be a non-empty array"},
		{"no user message", `{"messages":[{"role":"system","content":"locate the bbox"}]}`, "", 400, "user message"},
		{"bad role", `{"messages":[{"role":"robot","content":"hi"}]}`, "", 400, "role"},
		{"missing content", `{"messages":[{"role":"user"}]}`, "", 400, "content is missing"},
		{"empty parts", `{"messages":[{"role":"user","content":[]}]}`, "", 400, "empty"},
		{"media after text", user(textPart, imagePart), "", 400, "before the text"},
		{"audio after text", user(imagePart, textPart, audioPart), "", 400, "before the text"},
		{"unknown part", user(`{"type":"video_url"}`, textPart), "", 400, "video_url"},
		{"remote image", user(`{"type":"image_url","image_url":{"url":"http://example.invalid/a.jpg"}}`, textPart), "", 400, "data: URLs"},
		{"bad base64", user(`{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,@@@"}}`, textPart), "", 400, "payload"},
		{"not a JPEG", user(`{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,aGVsbG8="}}`, textPart), "", 400, "not a readable JPEG"},
		{"mp3 audio", user(`{"type":"input_audio","input_audio":{"data":"aGVsbG8=","format":"mp3"}}`, textPart), "", 400, "only \"wav\""},
		{"not a WAV", user(`{"type":"input_audio","input_audio":{"data":"aGVsbG8=","format":"wav"}}`, textPart), "", 400, "RIFF"},
		{"media in system", `{"messages":[{"role":"system","content":[` + imagePart + `]},{"role":"user","content":"locate"}]}`, "", 400, "user message"},
		{"streaming", `{"stream":true,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "stream"},
		{"n zero", `{"n":0,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "n must be"},
		{"n too large", `{"n":1000,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "n must be"},
		{"temperature", `{"temperature":-1,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "temperature"},
		{"top_p", `{"top_p":0,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "top_p"},
		{"max_tokens", `{"max_tokens":0,"messages":[{"role":"user","content":"locate"}]}`, "", 400, "max_tokens"},
		{"flat schema", `{"response_format":{"type":"json_schema","name":"garssl_locate"},"messages":[{"role":"user","content":"locate"}]}`, "", 400, "nested"},
		{"unknown format", `{"response_format":{"type":"yaml"},"messages":[{"role":"user","content":"locate"}]}`, "", 400, "response_format.type"},
		{"unknown stage", user(audioPart, `{"type":"text","text":"hello"}`), "", 400, "cannot tell the stage"},
		{"locate without image", user(audioPart, textPart), "", 400, "needs an image_url"},
		{"audio without audio", `{"messages":[{"role":"user","content":"x"}]}`, "n/f/1/audio", 400, "needs an input_audio"},
		{"source out of range", user(imagePart, audioPart, textPart), "n/f/1/refine/s9", 400, "out of range"},
		{"wrong model", `{"model":"gpt-4","messages":[{"role":"user","content":"locate"}]}`, "", 404, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := postRaw(t, ts.URL, []byte(tc.body), tc.requestID)
			var e errorBody
			if err := json.Unmarshal(r.raw, &e); err != nil {
				t.Fatalf("error body %s: %v", r.raw, err)
			}
			wantType := "invalid_request_error"
			if tc.status == 404 {
				wantType = "not_found_error"
			}
			if r.status != tc.status || e.Error.Type != wantType || !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Fatalf("got %d %+v, want %d %s mentioning %q", r.status, e.Error, tc.status, wantType, tc.wantMsg)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"messages":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", rec.Code, rec.Body)
	}
}

func TestResponseEnvelope(t *testing.T) {
	_, ts := startServer(t, testConfig())
	r := post(t, ts.URL, chatOpts{requestID: "robot-7/front/42/audio", text: audioPrompt, audio: makeWAV(t, 3, 16000, 1), n: 3})
	if got := r.header.Get("X-Request-Id"); got != "robot-7/front/42/audio" {
		t.Fatalf("X-Request-Id echoed as %q", got)
	}
	d := r.decoded
	if d.ID != "chatcmpl-robot-7/front/42/audio" || d.Object != "chat.completion" || d.Model != DefaultModel || len(d.Choices) != 3 {
		t.Fatalf("envelope %+v", d)
	}
	for i, c := range d.Choices {
		if c.Index != i || c.Message.Role != "assistant" || c.FinishReason != "stop" || c.Message.Content == "" {
			t.Fatalf("choice %d: %+v", i, c)
		}
	}
	anonymous := post(t, ts.URL, chatOpts{text: audioPrompt, audio: makeWAV(t, 3, 16000, 1)})
	if !strings.HasPrefix(anonymous.decoded.ID, "chatcmpl-") || anonymous.decoded.ID == "chatcmpl-" {
		t.Fatalf("id without X-Request-Id: %q", anonymous.decoded.ID)
	}
}

func TestInfoEndpoints(t *testing.T) {
	cfg := testConfig()
	cfg.Model = "Qwen/Qwen2.5-Omni-3B"
	_, ts := startServer(t, cfg)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	status, body := get("/v1/models")
	var models struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal(body, &models) != nil || len(models.Data) != 1 || models.Data[0].ID != cfg.Model || models.Object != "list" {
		t.Fatalf("/v1/models: %d %s", status, body)
	}
	if status, body := get("/healthz"); status != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("/healthz: %d %s", status, body)
	}

	post(t, ts.URL, chatOpts{model: cfg.Model, requestID: "n/f/1/audio", text: audioPrompt, audio: makeWAV(t, 1, 16000, 1)})
	status, body = get("/stats")
	var stats map[string]any
	if status != 200 || json.Unmarshal(body, &stats) != nil {
		t.Fatalf("/stats: %d %s", status, body)
	}
	for _, key := range []string{"requests", "prompt_tokens", "cached_tokens", "computed_prefill_tokens", "completion_tokens", "by_stage", "faults"} {
		if _, ok := stats[key]; !ok {
			t.Errorf("/stats lacks %q: %s", key, body)
		}
	}
	byStage, _ := stats["by_stage"].(map[string]any)
	audio, _ := byStage["audio"].(map[string]any)
	if audio["requests"] != 1.0 {
		t.Errorf("/stats by_stage.audio = %v, want one request", audio)
	}
	if status, _ := get("/nowhere"); status != 404 {
		t.Errorf("/nowhere: %d", status)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantMsg string
	}{
		{"empty model", func(c *Config) { c.Model = "" }, "--model"},
		{"sources", func(c *Config) { c.Sources = 0 }, "--sources"},
		{"cache entries", func(c *Config) { c.CacheEntries = 0 }, "--cache-entries"},
		{"cache ttl", func(c *Config) { c.CacheTTL = 0 }, "--cache-ttl"},
		{"negative prefill", func(c *Config) { c.PrefillMsPerToken = -1 }, "--prefill-ms-per-token"},
		{"time scale NaN", func(c *Config) { c.TimeScale = math.NaN() }, "--time-scale"},
		{"error rate", func(c *Config) { c.Faults.ErrorRate = 1.5 }, "--error-rate"},
		{"rates sum", func(c *Config) { c.Faults.ErrorRate, c.Faults.GarbageRate = 0.6, 0.6 }, "must not exceed 1"},
		{"hang max", func(c *Config) { c.Faults.HangMax = 0 }, "--hang-max"},
		{"down window", func(c *Config) { c.Faults.Down = []DownWindow{{From: time.Second, To: time.Second}} }, "--down"},
		{"truth file missing", func(c *Config) { c.TruthFile = "/nonexistent/truth.json" }, "--truth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.wantMsg)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.PrefixCache, cfg.CacheEntries = false, 0
	if _, err := New(cfg, nil); err != nil {
		t.Fatalf("cache size is irrelevant with the cache off: %v", err)
	}
}
