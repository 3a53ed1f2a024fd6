package mllm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type capturedRequest struct {
	header http.Header
	body   []byte
}

// capturingServer answers every request with one choice and hands over what
// it received.
func capturingServer(t *testing.T) (string, <-chan capturedRequest) {
	t.Helper()
	got := make(chan capturedRequest, 16)
	url, _ := testServer(t, func(w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- capturedRequest{header: r.Header.Clone(), body: body}
		// Answer as many choices as were asked for.
		var asked struct{ N int }
		_ = json.Unmarshal(body, &asked)
		texts := make([]string, max(asked.N, 1))
		for i := range texts {
			texts[i] = "{}"
		}
		answer(completion(texts...))(w, r, nil)
	})
	return url, got
}

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("invalid JSON %.200q: %v", data, err)
	}
	return v
}

func TestRequestBodyMatchesGolden(t *testing.T) {
	seed := int64(7)
	jpegHead := []byte{0xff, 0xd8, 0xff, 0xe0} // base64 "/9j/4A==", worked out by hand
	riff := []byte("RIFF")                     // base64 "UklGRg=="
	tests := []struct {
		name       string
		structured bool
		req        Request
		golden     string
	}{
		{
			name:       "media, sampling and schema",
			structured: true,
			req: Request{
				ID: "robot-7/front/42/analysis", Stage: "analysis",
				System:    "You are a careful assistant.",
				ImageJPEG: jpegHead, WAV: riff,
				Text:        "Where is the \"dog\"?\nAnswer in JSON.",
				Temperature: 0.4, TopP: 0.9, N: 5, MaxTokens: 256, Seed: &seed,
				SchemaName: "garssl_analysis",
				Schema:     json.RawMessage(`{"type": "object", "required": ["keep"]}`),
			},
			golden: "request_full.json",
		},
		{
			name:       "schema ignored without structured output",
			structured: false,
			req: Request{
				ID: "robot-7/front/42/locate", Text: "hi", N: 1,
				SchemaName: "garssl_locate", Schema: json.RawMessage(`{"type":"object"}`),
			},
			golden: "request_text_only.json",
		},
		{
			name:       "pre-encoded audio, no schema",
			structured: true,
			req: Request{
				ID: "robot-7/front/42/audio", System: "sys",
				Media: EncodeMedia(nil, riff), Text: "what do you hear?", MaxTokens: 64,
			},
			golden: "request_audio_media.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := capturingServer(t)
			h := newHarness(t, Config{Endpoints: []string{url}, StructuredOutput: tt.structured})
			if _, err := h.client.Complete(context.Background(), tt.req); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			sent := <-got
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := decodeJSON(t, sent.body), decodeJSON(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("body differs from %s\n got: %s\nwant: %s", tt.golden, sent.body, want)
			}
			if v := sent.header.Get("X-Request-Id"); v != tt.req.ID {
				t.Errorf("X-Request-Id = %q, want %q", v, tt.req.ID)
			}
			if v := sent.header.Get("Content-Type"); v != "application/json" {
				t.Errorf("Content-Type = %q", v)
			}
			if v, ok := sent.header["Authorization"]; ok {
				t.Errorf("Authorization sent without a key file: %q", v)
			}
		})
	}
}

// pseudoMedia returns n deterministic bytes covering all byte values.
func pseudoMedia(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRequestBodyMediaPartsRoundTrip(t *testing.T) {
	jpeg, wav := pseudoMedia(10_000, 1), pseudoMedia(96_044, 2)
	tests := []struct {
		name string
		req  Request
	}{
		{"raw media", Request{ImageJPEG: jpeg, WAV: wav}},
		{"pre-encoded media", Request{Media: EncodeMedia(jpeg, wav)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := capturingServer(t)
			h := newHarness(t, Config{Endpoints: []string{url}})
			req := tt.req
			req.ID, req.System, req.Text = "robot-7/front/1/locate", "sys", "find it"
			if _, err := h.client.Complete(context.Background(), req); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			var body struct {
				N        *int `json:"n"`
				Messages []struct {
					Role    string          `json:"role"`
					Content json.RawMessage `json:"content"`
				} `json:"messages"`
				ResponseFormat json.RawMessage `json:"response_format"`
			}
			if err := json.Unmarshal((<-got).body, &body); err != nil {
				t.Fatal(err)
			}
			if body.N != nil {
				t.Errorf("n sent for a single-choice request: %d", *body.N)
			}
			if body.ResponseFormat != nil {
				t.Errorf("response_format sent without structured output: %s", body.ResponseFormat)
			}
			if len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[1].Role != "user" {
				t.Fatalf("messages = %+v, want system then user", body.Messages)
			}
			var parts []struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				ImageURL struct {
					URL string `json:"url"`
				} `json:"image_url"`
				InputAudio struct {
					Data   string `json:"data"`
					Format string `json:"format"`
				} `json:"input_audio"`
			}
			if err := json.Unmarshal(body.Messages[1].Content, &parts); err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range parts {
				types = append(types, p.Type)
			}
			if want := []string{"image_url", "input_audio", "text"}; !reflect.DeepEqual(types, want) {
				t.Fatalf("part order = %v, want %v", types, want)
			}
			b64, ok := strings.CutPrefix(parts[0].ImageURL.URL, "data:image/jpeg;base64,")
			if !ok {
				t.Fatalf("image url prefix: %.40q", parts[0].ImageURL.URL)
			}
			if img, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(img, jpeg) {
				t.Errorf("image does not round-trip (err %v)", err)
			}
			if parts[1].InputAudio.Format != "wav" {
				t.Errorf("audio format = %q", parts[1].InputAudio.Format)
			}
			if audio, err := base64.StdEncoding.DecodeString(parts[1].InputAudio.Data); err != nil || !bytes.Equal(audio, wav) {
				t.Errorf("audio does not round-trip (err %v)", err)
			}
			if parts[2].Text != "find it" {
				t.Errorf("text = %q", parts[2].Text)
			}
		})
	}
}

func TestRawAndPreEncodedMediaGiveTheSameBody(t *testing.T) {
	jpeg, wav := pseudoMedia(1000, 3), pseudoMedia(3000, 4)
	raw := Request{ID: "a/b/1/locate", Text: "t", ImageJPEG: jpeg, WAV: wav}
	pre := Request{ID: "a/b/1/locate", Text: "t", Media: EncodeMedia(jpeg, wav)}
	a, err := appendBody(nil, "m", &raw, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := appendBody(nil, "m", &pre, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("bodies differ:\n%.300s\n%.300s", a, b)
	}
}

func TestBearerTokenFromKeyFile(t *testing.T) {
	tests := []struct {
		name     string
		keyFile  string // contents; empty means no key file configured
		wantAuth string
	}{
		{"no key file", "", ""},
		{"key trimmed", "  sk-test-123\n", "Bearer sk-test-123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, got := capturingServer(t)
			cfg := Config{Endpoints: []string{url}}
			if tt.keyFile != "" {
				cfg.APIKeyFile = filepath.Join(t.TempDir(), "mllm.key")
				if err := os.WriteFile(cfg.APIKeyFile, []byte(tt.keyFile), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			h := newHarness(t, cfg)
			if _, err := h.client.Complete(context.Background(), simpleRequest("n/s/1/locate")); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			sent := <-got
			if v := sent.header.Get("Authorization"); v != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", v, tt.wantAuth)
			}
			if n := len(sent.header.Values("Authorization")); tt.wantAuth == "" && n != 0 {
				t.Errorf("%d Authorization headers sent", n)
			}
		})
	}
}

func TestInvalidRequestsNeverReachTheServer(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Request)
	}{
		{"empty id", func(r *Request) { r.ID = "" }},
		{"id with newline", func(r *Request) { r.ID = "a/b/1/locate\nX-Evil: 1" }},
		{"id with space", func(r *Request) { r.ID = "a b" }},
		{"image twice", func(r *Request) { r.ImageJPEG, r.Media = []byte{1}, EncodeMedia([]byte{2}, nil) }},
		{"audio twice", func(r *Request) { r.WAV, r.Media = []byte{1}, EncodeMedia(nil, []byte{2}) }},
		{"NaN temperature", func(r *Request) { r.Temperature = math.NaN() }},
		{"infinite temperature", func(r *Request) { r.Temperature = math.Inf(1) }},
		{"negative temperature", func(r *Request) { r.Temperature = -0.1 }},
		{"top_p above 1", func(r *Request) { r.TopP = 1.5 }},
		{"negative n", func(r *Request) { r.N = -1 }},
		{"negative max_tokens", func(r *Request) { r.MaxTokens = -5 }},
		{"schema not JSON", func(r *Request) { r.SchemaName, r.Schema = "garssl_locate", json.RawMessage(`{"type":`) }},
		{"schema without name", func(r *Request) { r.Schema = json.RawMessage(`{}`) }},
	}
	url, hits := testServer(t, answer(completion("{}")))
	h := newHarness(t, Config{Endpoints: []string{url}, StructuredOutput: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := simpleRequest("n/s/1/locate")
			tt.edit(&req)
			if _, err := h.client.Complete(context.Background(), req); err == nil {
				t.Error("Complete accepted an invalid request")
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server received %d requests", n)
	}
}

func TestAppendJSONStringDecodesLikeEncodingJSON(t *testing.T) {
	tests := []string{
		"", "plain", `quote " and backslash \`, "line\nbreak\r\ttab",
		"\x00\x01\x1f\x7f", "unicode: ü → 🐕", "bad utf8: \xff\xfe end", "truncated \xe2\x82",
		"<html>&amp;</html>", "\u2028\u2029",
	}
	for _, s := range tests {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff", "🐕\n"} {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

// checkJSONString requires appendJSONString's output to be one valid JSON
// string that decodes to what encoding/json's own encoding of s decodes to.
func checkJSONString(t *testing.T, s string) {
	got := appendJSONString([]byte("x"), s)[1:]
	var decoded string
	if err := json.Unmarshal(got, &decoded); err != nil {
		t.Fatalf("appendJSONString(%q) = %s: invalid JSON: %v", s, got, err)
	}
	ref, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if decoded != want {
		t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json gives %q", s, decoded, want)
	}
}
