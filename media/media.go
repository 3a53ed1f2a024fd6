// Package media holds the plain Go values that capture produces and the
// rest of garssld passes around: the picture chosen for a window, the Sink
// that receives a stream's media, and a still loaded from files. It has no
// cgo, so windowing, schedule and eval build without FFmpeg; FFmpeg's own
// objects never leave capture.
package media

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultWindow is the length of a window: the paper's 3 seconds.
const DefaultWindow = 3 * time.Second

// PictureTolerance is how far a frame may lie from its target and still be
// used. Further than this, the window has no picture that shows its moment.
const PictureTolerance = 500 * time.Millisecond

// AudioJitter is how far an audio frame's timestamp may stray from where
// the previous samples ended and still count as contiguous. Beyond it the
// audio has a gap or an overlap, which the windowing fills or trims.
const AudioJitter = 40 * time.Millisecond

// Picture is the frame chosen for one picture target, already scaled to the
// model input size and encoded as JPEG.
type Picture struct {
	// Target is the timeline position the picture was chosen for.
	Target time.Duration
	// Pos is the frame's own timeline position.
	Pos time.Duration
	// JPEG is the frame at ModelWidth×ModelHeight; nil when no decoded frame
	// lay within PictureTolerance of Target (a corrupt or missing stretch).
	JPEG []byte
	// Width and Height are the frame's size before scaling.
	Width, Height int
	// ModelWidth and ModelHeight are the size of JPEG.
	ModelWidth, ModelHeight int
	// Frame is the camera frame, upright, downscaled to at most
	// FrameMaxWidth wide with its aspect kept, as JPEG: what the live view
	// shows. nil unless capture was asked for it (it costs a second scale
	// and encode per window).
	Frame []byte
	// FrameWidth and FrameHeight are the size of Frame.
	FrameWidth, FrameHeight int
}

// FrameMaxWidth bounds the width of Picture.Frame.
const FrameMaxWidth = 960

// Sink receives a stream's media. All calls come from one goroutine at a
// time (capture serialises its inputs), so a Sink needs no locking of its
// own against capture. Positions are on the stream timeline, which never
// goes backwards (see capture's package doc).
type Sink interface {
	// Anchor gives the time of timeline position 0 with a monotonic reading,
	// so that position p happened at wall.Add(p) and its age is
	// time.Since(wall.Add(p)) whatever the system clock does. It is called
	// before any media with the arrival of the first media, and again when
	// the sender says when it captured it (RTCP sender reports).
	Anchor(wall time.Time)
	// Audio delivers 16 kHz mono samples whose first sample sits at pos.
	// The slice is reused after the call returns.
	Audio(pos time.Duration, samples []int16)
	// PictureTarget returns the position the next picture should be nearest to.
	PictureTarget() time.Duration
	// Picture delivers the frame chosen for the current target.
	Picture(p Picture)
	// VideoAt reports that video decoding has reached pos, so windows whose
	// audio lags behind can be closed.
	VideoAt(pos time.Duration)
	// Gap reports that the stream has no media in [from, to), a stretch
	// longer than one window: an outage, or a live input that paused.
	// Media resumes at to. Shorter gaps are not reported; their audio is
	// missing and is to be filled with silence.
	Gap(from, to time.Duration)
}

// ArrayAudio is a window's sound from a microphone array, for direction
// finding: one slice per microphone, in the order of the array's positions,
// at Rate (the input's own rate, or 16 kHz when that is higher), float32 in
// [-1, 1]. The mono mix the model hears is separate and unchanged.
type ArrayAudio struct {
	Rate     int
	Channels [][]float32
}

// ArraySink is a Sink that also takes a microphone array's sound. capture
// delivers it only to a stream with array channels configured, alongside
// (never instead of) the mono Audio of the same stretch; a Sink that does
// not implement it gets the mono sound only.
type ArraySink interface {
	// ArrayAudio delivers samples at rate whose first sample sits at pos:
	// one slice per microphone, in the order of the array's positions, all
	// of one length. The slices are reused after the call returns.
	ArrayAudio(pos time.Duration, rate int, channels [][]float32)
}

// GridSink is a Sink whose window grid may still move when the first key
// frame of a live video arrives. capture offers it only for live inputs
// decoded GOP-aware (frame_pick exact or nearest_key): where windows start
// is then arbitrary (when garssld joined the camera), and a window whose
// centre falls on a key frame gets its picture from that frame alone,
// where one centred elsewhere needs its GOP decoded up to the centre.
type GridSink interface {
	// AlignGrid says a key frame sits at pos. Before the grid's first
	// window is decided, the sink may move the grid by less than one hop
	// so that a window's centre falls on pos.
	AlignGrid(pos time.Duration)
}

// Still is one picture and its sound, loaded from files rather than cut
// from a stream: what `garssld locate` and the evaluation harness feed the
// GAR loop.
type Still struct {
	Picture Picture
	// Samples is the whole audio input at 16 kHz mono.
	Samples []int16
}

// FileDecoder reads media files. capture implements it with FFmpeg; the
// evaluation harness takes one so that it needs no cgo of its own.
type FileDecoder interface {
	// LoadStill decodes the first frame of image scaled to modelW×modelH
	// and all of audio converted to 16 kHz mono.
	LoadStill(image, audio string, modelW, modelH int) (Still, error)
	// DecodeFile reads the file at path to its end into sink, with
	// pictures at modelW×modelH, as the daemon's capture would.
	DecodeFile(ctx context.Context, path string, modelW, modelH int, sink Sink, log hclog.Logger) error
}
