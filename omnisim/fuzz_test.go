package omnisim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// FuzzChatCompletion feeds arbitrary bodies and request ids to the handler:
// it must answer every one with a JSON body and a status from the documented
// set, and never panic.
func FuzzChatCompletion(f *testing.F) {
	img, wav := plainJPEG(f, 28, 28, 0), makeWAV(f, 0.05, 16000, 1)
	for _, o := range []chatOpts{
		{requestID: "n/f/1/locate", text: locatePrompt, image: img, audio: wav},
		{requestID: "n/f/1/analysis/s1/t2", text: analysisPrompt, image: img, audio: wav, n: 3, temperature: temp(0.4)},
		{schema: "garssl_locate_multi", text: "K=2", image: img, audio: wav, maxTokens: 3},
		{text: refinePrompt, image: img},
	} {
		f.Add(o.body(f), o.requestID)
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":"previous_bbox [1e308,-1e308,NaN,2] refine"}]}`), "")
	f.Add([]byte(`{"n":3,"messages":[{"role":"user","content":[{"type":"text","text":"classify audio_class"}]}]}`), "a/b/audio/t9999")

	cfg := testConfig()
	cfg.Sources = 3
	s, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	allowed := map[int]bool{http.StatusOK: true, http.StatusBadRequest: true, http.StatusNotFound: true, http.StatusRequestEntityTooLarge: true}
	f.Fuzz(func(t *testing.T, body []byte, requestID string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header["X-Request-Id"] = []string{requestID}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d body %q", rec.Code, rec.Body)
		}
	})
}

func FuzzParseWAV(f *testing.F) {
	f.Add(makeWAV(f, 0.01, 16000, 1))
	f.Add(makeWAV(f, 0.01, 8000, 2)[:50])
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseWAV(data)
		if err != nil {
			return
		}
		if info.dataBytes < 0 || info.dataBytes > len(data) || audioTokens(info) < 2 {
			t.Fatalf("parseWAV(%q) = %+v with %d tokens", data, info, audioTokens(info))
		}
	})
}

func FuzzParseDownWindows(f *testing.F) {
	for _, s := range []string{"10s-20s", "0s-1h:close,2h-3h", "1ms-2ms:503", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		windows, err := ParseDownWindows(spec)
		if err != nil {
			return
		}
		again, err := ParseDownWindows(FormatDownWindows(windows))
		if err != nil || !reflect.DeepEqual(again, windows) {
			t.Fatalf("%q → %v → %q → %v, %v", spec, windows, FormatDownWindows(windows), again, err)
		}
	})
}
