package mllm

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      int
		wantTexts []string
		wantUsage Usage
		wantErr   error
	}{
		{
			name:      "string content with cached tokens",
			body:      `{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"bbox\":[1,2,3,4]}"}}],"usage":{"prompt_tokens":512,"completion_tokens":31,"total_tokens":543,"prompt_tokens_details":{"cached_tokens":384}}}`,
			want:      1,
			wantTexts: []string{`{"bbox":[1,2,3,4]}`},
			wantUsage: Usage{PromptTokens: 512, CompletionTokens: 31, CachedTokens: 384, CachedReported: true},
		},
		{
			name:      "zero cached tokens reported",
			body:      `{"choices":[{"index":0,"message":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}}`,
			want:      1,
			wantTexts: []string{"a"},
			wantUsage: Usage{PromptTokens: 10, CompletionTokens: 2, CachedReported: true},
		},
		{
			name:      "null prompt token details (vLLM without --enable-prompt-tokens-details)",
			body:      `{"choices":[{"index":0,"message":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":null}}`,
			want:      1,
			wantTexts: []string{"a"},
			wantUsage: Usage{PromptTokens: 10, CompletionTokens: 2},
		},
		{
			name:      "no prompt token details",
			body:      `{"choices":[{"index":0,"message":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":2}}`,
			want:      1,
			wantTexts: []string{"a"},
			wantUsage: Usage{PromptTokens: 10, CompletionTokens: 2},
		},
		{
			name:      "null details and no usage at all",
			body:      `{"choices":[{"index":0,"message":{"content":"a"}}],"usage":null}`,
			want:      1,
			wantTexts: []string{"a"},
		},
		{
			name:      "content as parts",
			body:      `{"choices":[{"index":0,"message":{"content":[{"type":"text","text":"{\"keep\":"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"true}"}]}}]}`,
			want:      1,
			wantTexts: []string{`{"keep":true}`},
		},
		{
			name:      "null content",
			body:      `{"choices":[{"index":0,"message":{"content":null}}]}`,
			want:      1,
			wantTexts: []string{""},
		},
		{
			name:      "choices ordered by index",
			body:      `{"choices":[{"index":2,"message":{"content":"c"}},{"index":0,"message":{"content":"a"}},{"index":1,"message":{"content":"b"}}]}`,
			want:      3,
			wantTexts: []string{"a", "b", "c"},
		},
		{
			name:      "garbage content is passed on",
			body:      `{"choices":[{"index":0,"message":{"content":"I think the dog is on the left."}}]}`,
			want:      1,
			wantTexts: []string{"I think the dog is on the left."},
		},
		{
			name:    "fewer choices than n",
			body:    `{"choices":[{"index":0,"message":{"content":"a"}}]}`,
			want:    5,
			wantErr: errCount,
		},
		{
			name:    "no choices",
			body:    `{"choices":[]}`,
			want:    1,
			wantErr: errCount,
		},
		{name: "html", body: `<html><body>502 Bad Gateway</body></html>`, want: 1, wantErr: errEnvelope},
		{name: "truncated", body: `{"choices":[{"index":0,"mess`, want: 1, wantErr: errEnvelope},
		{name: "choices missing", body: `{"object":"error","message":"oops"}`, want: 1, wantErr: errEnvelope},
		{name: "choice without message", body: `{"choices":[{"index":0,"text":"a"}]}`, want: 1, wantErr: errEnvelope},
		{name: "numeric content", body: `{"choices":[{"index":0,"message":{"content":42}}]}`, want: 1, wantErr: errEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			texts, usage, err := parseResponse([]byte(tt.body), tt.want)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(texts, tt.wantTexts) {
				t.Errorf("texts = %q, want %q", texts, tt.wantTexts)
			}
			if usage != tt.wantUsage {
				t.Errorf("usage = %+v, want %+v", usage, tt.wantUsage)
			}
		})
	}
}

func TestCompleteReturnsOrderedChoicesAndUsage(t *testing.T) {
	body := `{"choices":[{"index":1,"message":{"content":"second"}},{"index":0,"message":{"content":[{"type":"text","text":"first"}]}}],` +
		`"usage":{"prompt_tokens":600,"completion_tokens":40,"total_tokens":640,"prompt_tokens_details":{"cached_tokens":143}}}`
	url, _ := testServer(t, answer(body))
	h := newHarness(t, Config{Endpoints: []string{url}})
	req := simpleRequest("n/s/1/analysis")
	req.N = 2
	resp, err := h.client.Complete(context.Background(), req)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if want := []string{"first", "second"}; !reflect.DeepEqual(resp.Choices, want) {
		t.Errorf("choices = %q, want %q", resp.Choices, want)
	}
	if want := (Usage{PromptTokens: 600, CompletionTokens: 40, CachedTokens: 143, CachedReported: true}); resp.Usage != want {
		t.Errorf("usage = %+v, want %+v", resp.Usage, want)
	}
	if resp.Endpoint != url || resp.Attempts != 1 || resp.Latency <= 0 {
		t.Errorf("endpoint %q attempts %d latency %v", resp.Endpoint, resp.Attempts, resp.Latency)
	}
}

func TestChoiceCountMismatchNamesExpectedAndGot(t *testing.T) {
	// llama-server ignores n and answers one choice.
	url, hits := testServer(t, answer(completion("{}")))
	h := newHarness(t, Config{Endpoints: []string{url}, Breaker: BreakerConfig{ConsecutiveFailures: 1}})
	req := simpleRequest("n/s/1/analysis")
	req.N = 5
	_, err := h.client.Complete(context.Background(), req)
	if !errors.Is(err, ErrBadResponse) {
		t.Fatalf("err = %v, want ErrBadResponse", err)
	}
	if !strings.Contains(err.Error(), "expected 5, got 1") {
		t.Errorf("error %q does not name expected and got", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests sent, want 1 (no retry)", n)
	}
	if st := h.client.States()[0].Breaker; st != BreakerClosed {
		t.Errorf("breaker %s after a choice-count mismatch", st)
	}
}

func TestOversizedResponseIsRejected(t *testing.T) {
	tests := []struct {
		name          string
		contentLength bool
	}{
		{"declared length", true},
		{"chunked", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			huge := `{"choices":[{"index":0,"message":{"content":"` + strings.Repeat("x", maxResponseBytes) + `"}}]}`
			url, _ := testServer(t, func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
				if tt.contentLength {
					w.Header().Set("Content-Length", "9000000")
				}
				_, _ = w.Write([]byte(huge)[:min(len(huge), 9000000)])
			})
			h := newHarness(t, Config{Endpoints: []string{url}})
			_, err := h.client.Complete(withTimeout(t, 5*time.Second), simpleRequest("n/s/1/locate"))
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "exceeds") {
				t.Fatalf("err = %v, want an oversized-body ErrBadResponse", err)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(completion("a", "b")), 2)
	f.Add([]byte(`{"choices":[{"index":0,"message":{"content":[{"type":"text","text":"x"}]}}],"usage":{"prompt_tokens_details":null}}`), 1)
	f.Add([]byte(`{"choices":null}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, want int) {
		want = max(1, min(want, 16))
		texts, _, err := parseResponse(body, want)
		switch {
		case err == nil && len(texts) != want:
			t.Fatalf("%d choices accepted, want %d", len(texts), want)
		case err != nil && !errors.Is(err, errCount) && !errors.Is(err, errEnvelope):
			t.Fatalf("unclassified error %v", err)
		}
	})
}
