package mllm

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxResponseBytes bounds the memory one answer may take. Real answers are a
// few KiB; anything near this is a misbehaving server.
const maxResponseBytes = 8 << 20

// Usage is the server's token accounting for one request.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// CachedTokens is the part of PromptTokens served from the prefix cache,
	// when CachedReported.
	CachedTokens int
	// CachedReported says whether the server reported
	// usage.prompt_tokens_details.cached_tokens (vLLM only does with
	// --enable-prompt-tokens-details).
	CachedReported bool
}

// Response is a completed request.
type Response struct {
	// Choices are the message texts ordered by choice index.
	Choices []string
	Usage   Usage
	// Endpoint is the display form of the endpoint that answered.
	Endpoint string
	// Attempts counts the attempts made, the successful one included.
	Attempts int
	// Latency is the whole call: waiting for a slot, retries and backoff.
	Latency time.Duration
}

type wireResponse struct {
	Choices *[]wireChoice `json:"choices"`
	Usage   *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		PromptTokensDetails *struct {
			CachedTokens *int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

type wireChoice struct {
	Index   int `json:"index"`
	Message *struct {
		Content messageContent `json:"content"`
	} `json:"message"`
}

// messageContent accepts a message's content as a string, as null (no text),
// or as an array of parts whose text parts are joined.
type messageContent string

func (c *messageContent) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return errors.New("empty content")
	case bytes.Equal(data, []byte("null")):
		*c = ""
		return nil
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*c = messageContent(s)
		return nil
	case data[0] == '[':
		var parts []struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(data, &parts); err != nil {
			return err
		}
		var joined []byte
		for _, p := range parts {
			if p.Text != nil && (p.Type == "text" || p.Type == "") {
				joined = append(joined, *p.Text...)
			}
		}
		*c = messageContent(joined)
		return nil
	default:
		return fmt.Errorf("content is neither a string nor an array of parts: %.20s", data)
	}
}

// errEnvelope marks a body that is not a chat completion at all; errCount a
// well-formed completion with the wrong number of choices. The two differ in
// what they say about the endpoint (see parseResponse).
var (
	errEnvelope = errors.New("not a chat completion")
	errCount    = errors.New("wrong number of choices")
)

// parseResponse decodes a 2xx body. A malformed envelope wraps errEnvelope;
// a choice count other than want wraps errCount.
func parseResponse(body []byte, want int) ([]string, Usage, error) {
	var wire wireResponse
	if err := json.Unmarshal(body, &wire); err != nil {
		return nil, Usage{}, fmt.Errorf("%w: %w", errEnvelope, err)
	}
	if wire.Choices == nil {
		return nil, Usage{}, fmt.Errorf("%w: no \"choices\"", errEnvelope)
	}
	choices := *wire.Choices
	for i, ch := range choices {
		if ch.Message == nil {
			return nil, Usage{}, fmt.Errorf("%w: choice %d has no message", errEnvelope, i)
		}
	}
	if len(choices) != want {
		return nil, Usage{}, fmt.Errorf("%w: expected %d, got %d", errCount, want, len(choices))
	}
	slices.SortStableFunc(choices, func(a, b wireChoice) int { return cmp.Compare(a.Index, b.Index) })
	texts := make([]string, len(choices))
	for i, ch := range choices {
		texts[i] = string(ch.Message.Content)
	}
	var usage Usage
	if u := wire.Usage; u != nil {
		usage.PromptTokens = u.PromptTokens
		usage.CompletionTokens = u.CompletionTokens
		if d := u.PromptTokensDetails; d != nil && d.CachedTokens != nil {
			usage.CachedTokens, usage.CachedReported = *d.CachedTokens, true
		}
	}
	return texts, usage, nil
}
