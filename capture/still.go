package capture

import (
	"context"
	"errors"
	"fmt"
	"github.com/garssl/garssld/media"
	"github.com/hashicorp/go-hclog"
	"io"
	"math"
	"time"
)

// LoadStill decodes the first frame of image (any format FFmpeg reads: JPEG,
// PNG, a video) scaled to modelW×modelH, and all of audio (any format, rate
// and layout) converted to 16 kHz mono s16. Samples may be short or even
// empty: callers judge the length, and say it.
func LoadStill(image, audio string, modelW, modelH int) (media.Still, error) {
	var st media.Still
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
	return media.Still{Picture: *sink.picture, Samples: sink.samples}, nil
}

// decodeFile reads one local input to its end into sink.
func decodeFile(path string, r role, modelW, modelH int, sink media.Sink) error {
	spec, err := parseInput(path)
	if err != nil {
		return err
	}
	pick := newPicker(modelW, modelH, false)
	defer pick.free()
	in, err := openInput(spec, inputOptions{role: r, pick: pick, decoder: map[string]string{"threads": "1"}})
	if err != nil {
		return err
	}
	defer in.close()
	if err := in.read(&reader{sink: sink, tl: newTimeline(media.DefaultWindow, false)}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// stillSink keeps the first picture and every sample.
type stillSink struct {
	picture *media.Picture
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
func (s *stillSink) Picture(p media.Picture) {
	if s.picture == nil {
		s.picture = &p
	}
}
func (s *stillSink) VideoAt(time.Duration)  {}
func (s *stillSink) Gap(_, _ time.Duration) {}

// Files is capture's media.FileDecoder: FFmpeg reading local files.
type Files struct{}

var _ media.FileDecoder = Files{}

// LoadStill implements media.FileDecoder with LoadStill.
func (Files) LoadStill(image, audio string, modelW, modelH int) (media.Still, error) {
	return LoadStill(image, audio, modelW, modelH)
}

// DecodeFile implements media.FileDecoder: the whole file through a Source,
// failing fast on the first error, with one decoder thread.
func (Files) DecodeFile(ctx context.Context, path string, modelW, modelH int, sink media.Sink, log hclog.Logger) error {
	src, err := New(Config{Name: "file", Input: path, ModelWidth: modelW, ModelHeight: modelH, FailFast: true, DecoderThreads: "1"}, sink, log, nil)
	if err != nil {
		return err
	}
	return src.Run(ctx)
}
