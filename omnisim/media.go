package omnisim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the wire contract sends JPEG
	_ "image/png"  // accepted too: it costs nothing and eases hand-made tests
	"math"
	"strings"
)

// qwenPatch is the side in pixels that one visual token covers after
// Qwen2.5-VL's 14-pixel patches are merged 2×2.
const qwenPatch = 28

// audioTokensPerSecond is Qwen2.5-Omni's audio encoder rate after pooling.
const audioTokensPerSecond = 25

// imageInput is a decoded image_url part.
type imageInput struct {
	data          []byte
	width, height int
}

// audioInput is a decoded input_audio part.
type audioInput struct {
	data []byte
	wav  wavInfo
}

// decodeDataURL splits a "data:<mime>;base64,<payload>" URL.
func decodeDataURL(url string) (mime string, data []byte, err error) {
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return "", nil, errors.New("only data: URLs are supported (omnisim fetches nothing)")
	}
	header, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, errors.New("data URL has no comma")
	}
	mime, enc, _ := strings.Cut(header, ";")
	if enc != "base64" {
		return "", nil, fmt.Errorf("data URL must be base64-encoded, got %q", header)
	}
	data, err = base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, fmt.Errorf("data URL payload: %w", err)
	}
	return mime, data, nil
}

func decodeImage(url string) (*imageInput, error) {
	mime, data, err := decodeDataURL(url)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(mime, "image/") {
		return nil, fmt.Errorf("image_url data URL has type %q, want image/jpeg", mime)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image_url is not a readable JPEG: %w", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("image_url has an empty size %dx%d", cfg.Width, cfg.Height)
	}
	return &imageInput{data: data, width: cfg.Width, height: cfg.Height}, nil
}

func decodeAudio(b64, format string) (*audioInput, error) {
	if format != "wav" {
		return nil, fmt.Errorf("input_audio format %q is not supported, omnisim reads only \"wav\"", format)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("input_audio data is not base64: %w", err)
	}
	info, err := parseWAV(data)
	if err != nil {
		return nil, fmt.Errorf("input_audio data: %w", err)
	}
	return &audioInput{data: data, wav: info}, nil
}

// qwenResizedSide mimics smart_resize: the side is rounded to the nearest
// multiple of 28, halves to even like Python's round, and never below 28.
func qwenResizedSide(n int) int {
	return max(qwenPatch, int(math.RoundToEven(float64(n)/qwenPatch))*qwenPatch)
}

// imageTokens counts the visual tokens plus the two vision delimiters.
func imageTokens(width, height int) int {
	return (qwenResizedSide(width)/qwenPatch)*(qwenResizedSide(height)/qwenPatch) + 2
}

// audioTokens counts ceil(seconds·25) plus the two audio delimiters.
func audioTokens(w wavInfo) int {
	rate := int64(w.byteRate())
	if rate == 0 {
		return 2
	}
	return int((int64(w.dataBytes)*audioTokensPerSecond+rate-1)/rate) + 2
}

// textTokens is the usual four-bytes-per-token estimate.
func textTokens(n int) int {
	return (n + 3) / 4
}

type wavInfo struct {
	sampleRate    int
	channels      int
	bitsPerSample int
	dataBytes     int
}

func (w wavInfo) byteRate() int {
	return w.sampleRate * w.channels * w.bitsPerSample / 8
}

// parseWAV reads the RIFF chunks it needs. A data chunk whose declared size
// runs past the end (streaming writers put 0xFFFFFFFF there) is cut to the
// bytes actually present.
func parseWAV(b []byte) (wavInfo, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return wavInfo{}, errors.New("not a RIFF/WAVE file")
	}
	var info wavInfo
	haveFmt, haveData := false, false
	for off := 12; off+8 <= len(b) && !(haveFmt && haveData); {
		id := string(b[off : off+4])
		size := int64(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := off + 8
		end := min(int64(body)+size, int64(len(b)))
		switch id {
		case "fmt ":
			if end-int64(body) < 16 {
				return wavInfo{}, errors.New("WAV fmt chunk is shorter than 16 bytes")
			}
			f := b[body:end]
			info.channels = int(binary.LittleEndian.Uint16(f[2:4]))
			info.sampleRate = int(binary.LittleEndian.Uint32(f[4:8]))
			info.bitsPerSample = int(binary.LittleEndian.Uint16(f[14:16]))
			haveFmt = true
		case "data":
			info.dataBytes = int(end - int64(body))
			haveData = true
		}
		// Chunks are padded to an even size.
		next := int64(body) + size + size%2
		if next > int64(len(b)) {
			break
		}
		off = int(next)
	}
	switch {
	case !haveFmt:
		return wavInfo{}, errors.New("WAV has no fmt chunk")
	case !haveData:
		return wavInfo{}, errors.New("WAV has no data chunk")
	case info.byteRate() <= 0:
		return wavInfo{}, fmt.Errorf("WAV format %d Hz × %d channels × %d bits has no byte rate",
			info.sampleRate, info.channels, info.bitsPerSample)
	}
	return info, nil
}
