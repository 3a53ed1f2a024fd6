package mllm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

const imageURLPrefix = "data:image/jpeg;base64,"

// appendBody appends the chat-completions body for req to dst. It writes the
// JSON by hand: the media make up almost all of the bytes, and this way they
// are encoded (or copied) exactly once, straight into the final buffer.
//
// The shape follows docs/contracts.md: the system message, then one user
// message whose parts are the image, the audio and the text, in that order, so
// that the server's prefix cache can reuse the media across a window's stages.
func appendBody(dst []byte, model string, req *Request, structured bool) ([]byte, error) {
	withSchema := structured && req.Schema != nil
	if withSchema {
		if req.SchemaName == "" {
			return nil, fmt.Errorf("request %s: schema without a name", req.ID)
		}
		if !json.Valid(req.Schema) {
			return nil, fmt.Errorf("request %s: schema %s is not valid JSON", req.ID, req.SchemaName)
		}
	}

	dst = append(dst, `{"model":`...)
	dst = appendJSONString(dst, model)
	dst = append(dst, `,"messages":[`...)
	if req.System != "" {
		dst = append(dst, `{"role":"system","content":`...)
		dst = appendJSONString(dst, req.System)
		dst = append(dst, `},`...)
	}
	dst = append(dst, `{"role":"user","content":[`...)
	if len(req.ImageJPEG) > 0 || req.Media.HasImage() {
		dst = append(dst, `{"type":"image_url","image_url":{"url":"`+imageURLPrefix...)
		dst = appendBase64(dst, req.ImageJPEG, req.Media.imageB64)
		dst = append(dst, `"}},`...)
	}
	if len(req.WAV) > 0 || req.Media.HasAudio() {
		dst = append(dst, `{"type":"input_audio","input_audio":{"data":"`...)
		dst = appendBase64(dst, req.WAV, req.Media.wavB64)
		dst = append(dst, `","format":"wav"}},`...)
	}
	dst = append(dst, `{"type":"text","text":`...)
	dst = appendJSONString(dst, req.Text)
	dst = append(dst, `}]}]`...)

	dst = append(dst, `,"temperature":`...)
	dst = strconv.AppendFloat(dst, req.Temperature, 'g', -1, 64)
	if req.TopP > 0 {
		dst = append(dst, `,"top_p":`...)
		dst = strconv.AppendFloat(dst, req.TopP, 'g', -1, 64)
	}
	if req.N > 1 {
		dst = append(dst, `,"n":`...)
		dst = strconv.AppendInt(dst, int64(req.N), 10)
	}
	if req.MaxTokens > 0 {
		dst = append(dst, `,"max_tokens":`...)
		dst = strconv.AppendInt(dst, int64(req.MaxTokens), 10)
	}
	if req.Seed != nil {
		dst = append(dst, `,"seed":`...)
		dst = strconv.AppendInt(dst, *req.Seed, 10)
	}
	if withSchema {
		// Nested form: llama.cpp ignores the flat one.
		dst = append(dst, `,"response_format":{"type":"json_schema","json_schema":{"name":`...)
		dst = appendJSONString(dst, req.SchemaName)
		dst = append(dst, `,"schema":`...)
		dst = append(dst, req.Schema...)
		dst = append(dst, `}}`...)
	}
	return append(dst, '}'), nil
}

// bodySize estimates the body length so that appendBody rarely has to grow
// its buffer; escaping may still push a prompt past the estimate.
func bodySize(model string, req *Request) int {
	text := len(req.System) + len(req.Text)
	return 384 + len(model) + text + text/16 +
		len(req.SchemaName) + len(req.Schema) +
		base64.StdEncoding.EncodedLen(len(req.ImageJPEG)) + len(req.Media.imageB64) +
		base64.StdEncoding.EncodedLen(len(req.WAV)) + len(req.Media.wavB64)
}

func appendBase64(dst, raw []byte, encoded string) []byte {
	if encoded != "" {
		return append(dst, encoded...)
	}
	return base64.StdEncoding.AppendEncode(dst, raw)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Quotes, backslashes and control
// characters are escaped; invalid UTF-8 becomes U+FFFD, as encoding/json does.
// Everything else is copied verbatim in runs.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
