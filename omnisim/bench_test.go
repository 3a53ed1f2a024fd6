package omnisim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkChatCompletion measures the server's own CPU per request with the
// latency model switched off (time scale 0), straight through the handler.
func BenchmarkChatCompletion(b *testing.B) {
	s, err := New(testConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	img, wav := plainJPEG(b, 224, 224, 1), makeWAV(b, 3, 16000, 1)
	for _, bc := range []struct {
		name string
		opts chatOpts
	}{
		{"locate", chatOpts{requestID: "n/f/1/locate", schema: "garssl_locate", text: locatePrompt, image: img, audio: wav, temperature: temp(0)}},
		{"analysis_n5", chatOpts{requestID: "n/f/1/analysis", schema: "garssl_analysis", text: analysisPrompt, image: img, audio: wav, n: 5, temperature: temp(0.4)}},
	} {
		body := bc.opts.body(b)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("X-Request-Id", bc.opts.requestID)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
