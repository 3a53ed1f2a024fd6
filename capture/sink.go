package capture

import "time"

// Picture is the frame chosen for one picture target, already scaled to the
// model input size and encoded as JPEG. It holds no FFmpeg memory.
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
}

// PictureTolerance is how far a frame may lie from its target and still be
// used. Further than this, the window has no picture that shows its moment.
const PictureTolerance = 500 * time.Millisecond

// Sink receives a Source's media. All calls come from one goroutine at a
// time (the Source serialises its inputs), so a Sink needs no locking of its
// own against the Source. Positions are on the stream timeline, which never
// goes backwards (see the package doc).
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
	// longer than one window (Config.Window): an outage, or a live input
	// that paused. Media resumes at to. Shorter gaps are not reported;
	// their audio is missing and is to be filled with silence.
	Gap(from, to time.Duration)
}
