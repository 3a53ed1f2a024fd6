package omnisim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const testSystem = "You are an assistant for audio-visual sound source localisation. Answer with JSON only."

// testConfig answers at once; tests that look at timing raise TimeScale.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.TimeScale = 0
	return cfg
}

func startServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// makeJPEG paints every pixel with paint and encodes at high quality.
func makeJPEG(t testing.TB, w, h int, paint func(x, y int) color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, paint(x, y))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatalf("encode JPEG: %v", err)
	}
	return buf.Bytes()
}

// plainJPEG is a flat grey image with a shade that varies with variant, so
// different variants hash differently.
func plainJPEG(t testing.TB, w, h, variant int) []byte {
	return makeJPEG(t, w, h, func(x, y int) color.RGBA {
		return color.RGBA{R: uint8(100 + variant%100), G: uint8((x + variant) % 256), B: uint8(y % 256), A: 255}
	})
}

// makeWAV writes a canonical 16-bit PCM RIFF WAV of a quiet ramp.
func makeWAV(t testing.TB, seconds float64, rate, channels int) []byte {
	t.Helper()
	frames := int(seconds * float64(rate))
	data := make([]byte, frames*channels*2)
	for i := 0; i < len(data); i += 2 {
		binary.LittleEndian.PutUint16(data[i:], uint16(i%512))
	}
	var buf bytes.Buffer
	buf.WriteString("RIFF")
	binary.Write(&buf, binary.LittleEndian, uint32(36+len(data)))
	buf.WriteString("WAVEfmt ")
	binary.Write(&buf, binary.LittleEndian, uint32(16))
	binary.Write(&buf, binary.LittleEndian, uint16(1))
	binary.Write(&buf, binary.LittleEndian, uint16(channels))
	binary.Write(&buf, binary.LittleEndian, uint32(rate))
	binary.Write(&buf, binary.LittleEndian, uint32(rate*channels*2))
	binary.Write(&buf, binary.LittleEndian, uint16(channels*2))
	binary.Write(&buf, binary.LittleEndian, uint16(16))
	buf.WriteString("data")
	binary.Write(&buf, binary.LittleEndian, uint32(len(data)))
	buf.Write(data)
	return buf.Bytes()
}

// chatOpts describes a test request in wire terms.
type chatOpts struct {
	model       string // DefaultModel when empty
	system      string
	text        string
	image       []byte
	audio       []byte
	n           int
	temperature *float64
	schema      string
	requestID   string
	maxTokens   int
}

func temp(v float64) *float64 { return &v }

func (o chatOpts) body(t testing.TB) []byte {
	t.Helper()
	var parts []map[string]any
	if o.image != nil {
		parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]any{
			"url": "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(o.image)}})
	}
	if o.audio != nil {
		parts = append(parts, map[string]any{"type": "input_audio", "input_audio": map[string]any{
			"data": base64.StdEncoding.EncodeToString(o.audio), "format": "wav"}})
	}
	parts = append(parts, map[string]any{"type": "text", "text": o.text})
	system := o.system
	if system == "" {
		system = testSystem
	}
	model := o.model
	if model == "" {
		model = DefaultModel
	}
	req := map[string]any{
		"model": model,
		"messages": []map[string]any{
			{"role": "system", "content": system},
			{"role": "user", "content": parts},
		},
	}
	if o.n > 0 {
		req["n"] = o.n
	}
	if o.temperature != nil {
		req["temperature"] = *o.temperature
	}
	if o.schema != "" {
		req["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{
			"name": o.schema, "schema": map[string]any{"type": "object"}}}
	}
	if o.maxTokens > 0 {
		req["max_tokens"] = o.maxTokens
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("marshal request: %v", err)
	}
	return b
}

type testResponse struct {
	status  int
	header  http.Header
	raw     []byte
	decoded chatResponse
}

func (r testResponse) contents() []string {
	out := make([]string, len(r.decoded.Choices))
	for i, c := range r.decoded.Choices {
		out[i] = c.Message.Content
	}
	return out
}

func (r testResponse) simulatedMs(t testing.TB) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(r.header.Get("X-Omnisim-Simulated-Ms"), 64)
	if err != nil {
		t.Fatalf("X-Omnisim-Simulated-Ms: %v", err)
	}
	return v
}

func postRaw(t testing.TB, url string, body []byte, requestID string) testResponse {
	t.Helper()
	r, err := doPost(url, body, requestID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// doPost is postRaw for goroutines other than the test's own.
func doPost(url string, body []byte, requestID string) (testResponse, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return testResponse{}, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set("X-Request-Id", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return testResponse{}, fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return testResponse{}, fmt.Errorf("read response: %w", err)
	}
	out := testResponse{status: resp.StatusCode, header: resp.Header, raw: raw}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &out.decoded); err != nil {
			return out, fmt.Errorf("decode response %s: %w", raw, err)
		}
	}
	return out, nil
}

func post(t testing.TB, url string, o chatOpts) testResponse {
	t.Helper()
	r := postRaw(t, url, o.body(t), o.requestID)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	return r
}

// extractJSON reads content the way a tolerant client would: the text from
// the first '{' to the last '}'.
func extractJSON(t testing.TB, content string, v any) {
	t.Helper()
	i, j := strings.Index(content, "{"), strings.LastIndex(content, "}")
	if i < 0 || j < i {
		t.Fatalf("no JSON object in %q", content)
	}
	if err := json.Unmarshal([]byte(content[i:j+1]), v); err != nil {
		t.Fatalf("parse %q: %v", content, err)
	}
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// Prompts in the spirit of the paper's tables, used where keywords matter.
const (
	locatePrompt   = "Locate exactly one main sound-emitting object and give its bbox [x1,y1,x2,y2] and a description. Image size 224x224."
	audioPrompt    = "Classify the dominant audio event. Answer {\"audio_class\":\"…\",\"audio_confidence_score\":s}."
	analysisPrompt = "Verify the sound source. previous_bbox: [40, 50, 120, 140]. audio_class: beep. Answer av_consistency, role_tags, anchor_votes, keep."
	refinePrompt   = "Refine the box. previous_bbox = [40, 50, 120, 140], MAX_DELTA_PX 18. Answer bbox, changed, ops, refined_description."
)
