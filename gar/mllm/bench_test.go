package mllm

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchRequest resembles an analysis request: a 224×224 JPEG of about 10 KB,
// 3 s of 16 kHz s16 mono WAV, prompts of paper-table size and a schema.
func benchRequest() (jpeg, wav []byte, req Request) {
	jpeg, wav = pseudoMedia(10_000, 5), pseudoMedia(44+3*16000*2, 6)
	req = Request{
		ID:          "robot-7/front/42/analysis",
		Stage:       "analysis",
		System:      strings.Repeat("You localise the sounding object.\n", 45),
		Text:        strings.Repeat(`Previous box [12, 40, 96, 180]; audio class "dog barking" (0.91). `, 14),
		Temperature: 0.4, TopP: 0.9, N: 5, MaxTokens: 512,
		SchemaName: "garssl_analysis",
		Schema: json.RawMessage(`{"type":"object","required":["av_consistency","role_tags","anchor_votes","keep"],` +
			`"properties":{"av_consistency":{"type":"number","minimum":0,"maximum":1},` +
			`"role_tags":{"type":"array","items":{"type":"string"}},` +
			`"anchor_votes":{"type":"array","items":{"type":"object","required":["anchor","score"],` +
			`"properties":{"anchor":{"type":"string"},"score":{"type":"number"}}}},"keep":{"type":"boolean"}}}`),
	}
	return jpeg, wav, req
}

func BenchmarkBuildRequest(b *testing.B) {
	jpeg, wav, base := benchRequest()
	b.Run("raw media", func(b *testing.B) {
		req := base
		req.ImageJPEG, req.WAV = jpeg, wav
		benchBody(b, &req)
	})
	b.Run("pre-encoded media", func(b *testing.B) {
		req := base
		req.Media = EncodeMedia(jpeg, wav)
		benchBody(b, &req)
	})
	b.Run("encode media once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = EncodeMedia(jpeg, wav)
		}
	})
}

func benchBody(b *testing.B, req *Request) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		if err := req.validate(); err != nil {
			b.Fatal(err)
		}
		body, err := appendBody(make([]byte, 0, bodySize("Qwen/Qwen2.5-Omni-7B", req)), "Qwen/Qwen2.5-Omni-7B", req, true)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "body-bytes")
}

func BenchmarkParseResponse(b *testing.B) {
	choice := `{"av_consistency":0.82,"role_tags":["dog","mouth_open"],"anchor_votes":[{"anchor":"dog_mouth","score":0.9}],"keep":true}`
	body := []byte(completion(choice, choice, choice, choice, choice))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parseResponse(body, 5); err != nil {
			b.Fatal(err)
		}
	}
}
