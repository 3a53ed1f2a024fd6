// Package windowing cuts a stream's decoded media into the fixed windows the
// GAR loop consumes: the picture nearest each window's centre and exactly
// length × 16 kHz mono samples, on the presentation timeline.
//
// A Cutter is the media.Sink of one stream. Window k of a grid covers
// [start + k·hop, start + k·hop + length). It closes when its audio is
// complete and its picture has been chosen; audio that is missing by then is
// silence, and counted. Decisions the design leaves open:
//   - A window's picture must lie within media.PictureTolerance of its
//     centre; otherwise the window is dropped (reason "no_frame"): a window
//     without a picture of its moment cannot be localised.
//   - Audio may lag video by up to LagAllowance. When the video is that far
//     past a window's end and its audio is still short (a microphone that
//     died), the window closes with silence; when audio is that far ahead
//     and no picture came (a camera that froze), it is dropped as no_frame.
//   - Audio timestamps within ±AudioJitter of where the previous samples
//     ended are treated as contiguous; a jump forward fills silence (at
//     most a window and LagAllowance: a longer hole is a gap), a jump back
//     drops the overlap.
//   - At the end of a file, windows that would reach past the end of the
//     media are not emitted; a partial window is not a window.
//   - A gap longer than a window (capture reports outages through Gap) is
//     skipped: the windows it touches count as one drop (reason "gap"), a
//     new grid starts where media resumes, and seq numbers keep counting
//     grid slots, so a gap in seq shows what was lost.
//   - Wall-clock times are taken when a window is cut (see Window).
//   - The level of digital silence is reported as MinDBFS, because JSON has
//     no −∞.
package windowing

import (
	"encoding/binary"
	"fmt"
	"github.com/garssl/garssld/media"
	"math"
	"time"
)

// Window is one cut of a stream: plain Go values only.
type Window struct {
	Stream string
	// Seq numbers the grid slots of the stream from 1.
	Seq uint64
	// PTSStart and PTSEnd are the window's bounds on the stream timeline.
	PTSStart, PTSEnd time.Duration
	// FramePTS is the timeline position of the chosen frame.
	FramePTS time.Duration
	// WallStart and WallEnd map the bounds to wall-clock time. They follow
	// the system clock (for payloads) and carry Go's monotonic clock
	// reading, taken when the window was cut, so time.Since(w.WallEnd) is
	// the window's age whatever the system clock does (chrony stepping a
	// board without a real-time clock). Do not strip the reading (Round(0),
	// a round trip through text) before measuring an age. A window of a file
	// read faster than real time ends when it was cut, never in the future.
	WallStart, WallEnd time.Time
	// JPEG is the chosen frame at ModelWidth×ModelHeight.
	JPEG []byte
	// Width and Height are the frame's original size.
	Width, Height int
	// ModelWidth and ModelHeight are JPEG's size.
	ModelWidth, ModelHeight int
	// Frame is the camera frame at FrameWidth×FrameHeight (at most
	// media.FrameMaxWidth wide), as JPEG, for the live view; nil unless
	// capture was asked for it.
	Frame                   []byte
	FrameWidth, FrameHeight int
	// Array is the window's multichannel sound for direction finding, the
	// same stretch of time as WAV; nil unless the stream has a mic_array.
	Array *media.ArrayAudio
	// WAV is a RIFF/WAVE file: 16 kHz mono s16, Samples samples.
	WAV []byte
	// Samples is the number of samples in WAV: length × 16000.
	Samples int
	// SilenceFilled counts samples that were missing and filled with silence.
	SilenceFilled int
	// RMSDBFS is the audio level, in dB relative to full scale.
	RMSDBFS float64
}

// MinDBFS is the level reported for digital silence.
const MinDBFS = -120.0

// SampleRate is the rate of a window's audio.
const SampleRate = 16000

// wavHeaderSize is the size of the canonical 44-byte PCM WAV header.
const wavHeaderSize = 44

// EncodeWAV writes samples as a 16 kHz mono s16 little-endian RIFF/WAVE file.
func EncodeWAV(samples []int16) []byte {
	dataLen := 2 * len(samples)
	b := make([]byte, wavHeaderSize+dataLen)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+dataLen))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	binary.LittleEndian.PutUint32(b[16:], 16) // PCM fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)  // mono
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], SampleRate*2) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)            // block align
	binary.LittleEndian.PutUint16(b[34:], 16)           // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(dataLen))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[wavHeaderSize+2*i:], uint16(s))
	}
	return b
}

// RMSDBFS is the root-mean-square level of samples in dB relative to full
// scale (a full-scale sine reads −3.01 dBFS), floored at MinDBFS.
func RMSDBFS(samples []int16) float64 {
	if len(samples) == 0 {
		return MinDBFS
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(len(samples)))
	if rms == 0 {
		return MinDBFS
	}
	return max(MinDBFS, 20*math.Log10(rms/32768))
}

// ModelPatch is the side of Qwen2.5-Omni's vision patches after merging:
// its processor rounds each image side to a multiple of it, so pictures are
// cut at such a size to keep the model's pixel coordinates ours.
const ModelPatch = 28

// CheckModelSize reports a picture size the model would silently resize.
func CheckModelSize(w, h int) error {
	if w < ModelPatch || h < ModelPatch || w%ModelPatch != 0 || h%ModelPatch != 0 {
		return fmt.Errorf("model size %dx%d: each side must be a positive multiple of %d (e.g. 224, 252, 448)", w, h, ModelPatch)
	}
	return nil
}
