package mllm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Request is one chat completion.
type Request struct {
	// ID is sent as X-Request-Id: <node>/<stream>/<seq>/<stage>[/s<k>][/t<i>];
	// retries append /a<j>, j ≥ 2, the attempt.
	ID string
	// Stage labels the request in metrics: locate, audio, analysis, refine.
	Stage string
	// System is the system prompt; the message is left out when empty.
	System string
	// ImageJPEG and WAV are raw media, base64-encoded into this request only.
	// When the same media go to several requests, use Media instead.
	ImageJPEG, WAV []byte
	// Media is media encoded once by EncodeMedia for all requests of a window.
	// Setting both ImageJPEG and an image in Media (or WAV and audio in Media)
	// is an error.
	Media Media
	// Text is the user prompt; it follows the media parts.
	Text string

	// Temperature is always sent; 0 means greedy decoding.
	Temperature float64
	// TopP is sent when greater than 0.
	TopP float64
	// N is sent when greater than 1; the answer must then hold N choices.
	N int
	// MaxTokens is sent when greater than 0.
	MaxTokens int
	// Seed is sent when not nil.
	Seed *int64

	// SchemaName and Schema become response_format when the client was
	// configured with StructuredOutput and Schema is not nil.
	SchemaName string
	Schema     json.RawMessage
}

// Media holds a window's image and audio already base64-encoded, so that the
// several requests of one window share one encoding. Build it with
// EncodeMedia; the zero Media carries nothing. The fields are unexported so
// that a Media can only ever hold valid base64, which the body writer copies
// without escaping.
type Media struct {
	imageB64, wavB64 string
}

// EncodeMedia base64-encodes a JPEG image and a WAV file; either may be empty.
func EncodeMedia(jpeg, wav []byte) Media {
	return Media{imageB64: encodeBase64(jpeg), wavB64: encodeBase64(wav)}
}

// encodeBase64 encodes straight into the string's final memory; going through
// EncodeToString would allocate and copy the encoding twice.
func encodeBase64(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.Grow(base64.StdEncoding.EncodedLen(len(b)))
	enc := base64.NewEncoder(base64.StdEncoding, &sb)
	// Writes to a strings.Builder cannot fail.
	_, _ = enc.Write(b)
	_ = enc.Close()
	return sb.String()
}

// AudioOnly returns m without its image, sharing the audio's encoding: the
// audio-classification stage sends the same audio as the other stages.
func (m Media) AudioOnly() Media { return Media{wavB64: m.wavB64} }

// HasImage reports whether m carries an image.
func (m Media) HasImage() bool { return m.imageB64 != "" }

// HasAudio reports whether m carries audio.
func (m Media) HasAudio() bool { return m.wavB64 != "" }

func (r *Request) validate() error {
	if r.ID == "" {
		return errors.New("request id is empty")
	}
	for i := 0; i < len(r.ID); i++ {
		if b := r.ID[i]; b < 0x21 || b > 0x7e {
			return fmt.Errorf("request id %q holds a byte not allowed in a header", r.ID)
		}
	}
	switch {
	case len(r.ImageJPEG) > 0 && r.Media.HasImage():
		return fmt.Errorf("request %s: image given both raw and in Media", r.ID)
	case len(r.WAV) > 0 && r.Media.HasAudio():
		return fmt.Errorf("request %s: audio given both raw and in Media", r.ID)
	case math.IsNaN(r.Temperature) || math.IsInf(r.Temperature, 0) || r.Temperature < 0:
		return fmt.Errorf("request %s: temperature %v is not a finite number ≥ 0", r.ID, r.Temperature)
	case math.IsNaN(r.TopP) || r.TopP < 0 || r.TopP > 1:
		return fmt.Errorf("request %s: top_p %v is outside [0,1]", r.ID, r.TopP)
	case r.N < 0:
		return fmt.Errorf("request %s: n %d is negative", r.ID, r.N)
	case r.MaxTokens < 0:
		return fmt.Errorf("request %s: max_tokens %d is negative", r.ID, r.MaxTokens)
	}
	return nil
}

// wantChoices is the number of choices the answer must hold.
func (r *Request) wantChoices() int {
	return max(r.N, 1)
}
