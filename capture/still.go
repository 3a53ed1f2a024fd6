package capture

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Still is one picture and its sound, loaded from files rather than cut
// from a stream: what `garssld locate` and the evaluation harness feed the
// GAR loop.
type Still struct {
	Picture Picture
	// Samples is the whole audio input at 16 kHz mono.
	Samples []int16
}

// LoadStill decodes the first frame of image (any format FFmpeg reads: JPEG,
// PNG, a video) scaled to modelW×modelH, and all of audio (any format, rate
// and layout) converted to 16 kHz mono s16. Samples may be short or even
// empty: callers judge the length, and say it.
func LoadStill(image, audio string, modelW, modelH int) (Still, error) {
	var st Still
	sink := &stillSink{}
	if err := decodeFile(image, role{video: true}, modelW, modelH, sink); err != nil {
		return st, fmt.Errorf("image: %w", err)
	}
	if sink.picture == nil || sink.picture.JPEG == nil {
		return st, fmt.Errorf("image %s: no picture could be decoded", image)
	}
	if err := decodeFile(audio, role{audio: true}, modelW, modelH, sink); err != nil {
		return st, fmt.Errorf("audio: %w", err)
	}
	return Still{Picture: *sink.picture, Samples: sink.samples}, nil
}

// decodeFile reads one local input to its end into sink.
func decodeFile(path string, r role, modelW, modelH int, sink Sink) error {
	spec, err := parseInput(path)
	if err != nil {
		return err
	}
	pick := newPicker(modelW, modelH)
	defer pick.free()
	in, err := openInput(spec, inputOptions{role: r, pick: pick, decoder: map[string]string{"threads": "1"}})
	if err != nil {
		return err
	}
	defer in.close()
	if err := in.read(&reader{sink: sink, tl: newTimeline(DefaultWindow, false)}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// stillSink keeps the first picture and every sample.
type stillSink struct {
	picture *Picture
	samples []int16
}

func (s *stillSink) Anchor(time.Time) {}
func (s *stillSink) Audio(_ time.Duration, samples []int16) {
	s.samples = append(s.samples, samples...)
}

// PictureTarget asks for the frame at the start of the timeline (the first
// one), then for none: a target no frame reaches.
func (s *stillSink) PictureTarget() time.Duration {
	if s.picture == nil {
		return 0
	}
	return math.MaxInt64
}
func (s *stillSink) Picture(p Picture) {
	if s.picture == nil {
		s.picture = &p
	}
}
func (s *stillSink) VideoAt(time.Duration)  {}
func (s *stillSink) Gap(_, _ time.Duration) {}
