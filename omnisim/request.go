package omnisim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// chatRequest is the subset of the OpenAI request that omnisim reads. Other
// members are accepted and ignored, as vLLM ignores what it does not use.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	N                   *int            `json:"n"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	ResponseFormat      *responseFormat `json:"response_format"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name string `json:"name"`
	} `json:"json_schema"`
}

// segment is one unit of the prompt as the prefix cache sees it.
type segment struct {
	role   string
	kind   string // "text", "image" or "audio"
	data   []byte
	tokens int
}

// prompt is a validated request body turned into what the simulator needs.
type prompt struct {
	segments []segment
	lastUser string // text of the last user message, for stage keywords and context
	image    *imageInput
	audio    *audioInput
	media    [32]byte // SHA-256 over all media parts in order
}

// errBadRequest marks errors that are the client's fault (HTTP 400).
var errBadRequest = errors.New("invalid request")

func badRequestf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func decodeChatRequest(body []byte) (*chatRequest, error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, badRequestf("request body is not valid JSON: %v", err)
	}
	return &req, nil
}

// parsePrompt validates the messages and decodes the media.
func parsePrompt(req *chatRequest) (*prompt, error) {
	if len(req.Messages) == 0 {
		return nil, badRequestf("messages must be a non-empty array")
	}
	p := &prompt{}
	mediaHash := sha256.New()
	sawUser := false
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return nil, badRequestf("messages[%d].role %q must be system, user or assistant", i, m.Role)
		}
		parts, err := messageParts(m.Content)
		if err != nil {
			return nil, badRequestf("messages[%d].content: %v", i, err)
		}
		var text strings.Builder
		sawText := false
		for j, part := range parts {
			where := fmt.Sprintf("messages[%d].content[%d]", i, j)
			switch part.Type {
			case "text":
				sawText = true
				text.WriteString(part.Text)
				p.segments = append(p.segments, segment{role: m.Role, kind: "text", data: []byte(part.Text), tokens: textTokens(len(part.Text))})
				continue
			case "image_url", "input_audio":
			default:
				return nil, badRequestf("%s.type %q must be text, image_url or input_audio", where, part.Type)
			}
			if m.Role != "user" {
				return nil, badRequestf("%s: %s parts belong in a user message, not %s", where, part.Type, m.Role)
			}
			if sawText {
				return nil, badRequestf("%s: %s follows a text part; put media parts (image_url, input_audio) before the text", where, part.Type)
			}
			seg, err := mediaSegment(part, p)
			if err != nil {
				return nil, badRequestf("%s: %v", where, err)
			}
			writeLengthPrefixed(mediaHash, seg.data)
			p.segments = append(p.segments, seg)
		}
		if m.Role == "user" {
			sawUser = true
			p.lastUser = text.String()
		}
	}
	if !sawUser {
		return nil, badRequestf("messages must contain a user message")
	}
	copy(p.media[:], mediaHash.Sum(nil))
	return p, nil
}

func mediaSegment(part contentPart, p *prompt) (segment, error) {
	if part.Type == "image_url" {
		if part.ImageURL == nil || part.ImageURL.URL == "" {
			return segment{}, errors.New("image_url.url is missing")
		}
		img, err := decodeImage(part.ImageURL.URL)
		if err != nil {
			return segment{}, err
		}
		if p.image == nil {
			p.image = img
		}
		return segment{role: "user", kind: "image", data: img.data, tokens: imageTokens(img.width, img.height)}, nil
	}
	if part.InputAudio == nil || part.InputAudio.Data == "" {
		return segment{}, errors.New("input_audio.data is missing")
	}
	audio, err := decodeAudio(part.InputAudio.Data, part.InputAudio.Format)
	if err != nil {
		return segment{}, err
	}
	if p.audio == nil {
		p.audio = audio
	}
	return segment{role: "user", kind: "audio", data: audio.data, tokens: audioTokens(audio.wav)}, nil
}

// messageParts accepts content as a string or an array of parts.
func messageParts(raw json.RawMessage) ([]contentPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("content is missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []contentPart{{Type: "text", Text: s}}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, fmt.Errorf("must be a string or an array of parts: %v", err)
	}
	if len(parts) == 0 {
		return nil, errors.New("content array is empty")
	}
	return parts, nil
}

// writeLengthPrefixed feeds a hash; the length keeps "ab"+"c" and "a"+"bc"
// apart. Hash writes never fail.
func writeLengthPrefixed(w io.Writer, data []byte) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	w.Write(n[:])
	w.Write(data)
}
