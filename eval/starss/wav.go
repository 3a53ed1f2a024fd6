package starss

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ReadWAV decodes a RIFF WAVE file of integer PCM (16, 24 or 32 bits) or
// 32-bit float samples, plain or WAVE_FORMAT_EXTENSIBLE, into one slice a
// channel scaled to [−1, 1].
func ReadWAV(r io.Reader) (rate int, channels [][]float32, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, nil, errors.New("not a RIFF WAVE file")
	}
	var format, nch, bits int
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, nil, fmt.Errorf("wav: no data chunk: %w", err)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return 0, nil, fmt.Errorf("wav: fmt chunk of %d bytes", size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return 0, nil, fmt.Errorf("wav fmt chunk: %w", err)
			}
			format = int(binary.LittleEndian.Uint16(b[0:2]))
			nch = int(binary.LittleEndian.Uint16(b[2:4]))
			rate = int(binary.LittleEndian.Uint32(b[4:8]))
			bits = int(binary.LittleEndian.Uint16(b[14:16]))
			if format == 0xFFFE && size >= 26 {
				format = int(binary.LittleEndian.Uint16(b[24:26])) // the sub-format GUID's first two bytes
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, nil, errors.New("wav: data chunk before fmt chunk")
			}
			return decode(r, size, format, nch, rate, bits)
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return 0, nil, fmt.Errorf("wav chunk %q: %w", id, err)
			}
		}
	}
}

func decode(r io.Reader, size int64, format, nch, rate, bits int) (int, [][]float32, error) {
	ok := nch >= 1 && nch <= 64 && rate > 0 &&
		((format == 1 && (bits == 16 || bits == 24 || bits == 32)) || (format == 3 && bits == 32))
	if !ok {
		return 0, nil, fmt.Errorf("wav: unsupported format %d, %d bits, %d channels, %d Hz (integer PCM 16/24/32 or float 32)", format, bits, nch, rate)
	}
	bps := bits / 8
	frame := bps * nch
	// A data size of 0 or 0xFFFFFFFF (streamed) means "to the end".
	var data []byte
	var err error
	if size == 0 || size == 0xFFFFFFFF {
		data, err = io.ReadAll(r)
	} else {
		data = make([]byte, size)
		var n int
		n, err = io.ReadFull(r, data)
		if errors.Is(err, io.ErrUnexpectedEOF) { // a truncated file keeps what it has
			data, err = data[:n], nil
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("wav data: %w", err)
	}
	n := len(data) / frame
	out := make([][]float32, nch)
	for c := range out {
		out[c] = make([]float32, n)
	}
	for i := 0; i < n; i++ {
		for c := 0; c < nch; c++ {
			b := data[i*frame+c*bps:]
			var v float32
			switch {
			case format == 3:
				v = math.Float32frombits(binary.LittleEndian.Uint32(b))
			case bits == 16:
				v = float32(int16(binary.LittleEndian.Uint16(b))) / 32768
			case bits == 24:
				x := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
				v = float32(x) / 8388608
			default:
				v = float32(float64(int32(binary.LittleEndian.Uint32(b))) / 2147483648)
			}
			out[c][i] = v
		}
	}
	return rate, out, nil
}
