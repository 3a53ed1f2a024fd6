package eval

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/media"
	"github.com/garssl/garssld/windowing"
)

// Window is the length of sound sent with each sample, as in the paper.
const Window = windowing.DefaultLength

// minAudio is the shortest sound a sample may have.
const minAudio = 500 * time.Millisecond

// videoHop is the grid on which windows are cut from a clip; the middle
// one is used.
const videoHop = 100 * time.Millisecond

// Layout says where a sample's inputs are. Either Frames and Audio, or
// Videos, is set.
type Layout struct {
	Frames, Audio, Videos string
}

// Check reports a layout that names no inputs or a directory that is not
// there.
func (l Layout) Check() error {
	switch {
	case l.Videos != "" && (l.Frames != "" || l.Audio != ""):
		return errors.New("give either --frames and --audio, or --videos, not both")
	case l.Videos == "" && (l.Frames == "" || l.Audio == ""):
		return errors.New("give --frames DIR and --audio DIR (extracted centre frames and sound), or --videos DIR (the clips)")
	}
	for _, d := range []struct{ flag, dir string }{{"--frames", l.Frames}, {"--audio", l.Audio}, {"--videos", l.Videos}} {
		if d.dir == "" {
			continue
		}
		st, err := os.Stat(d.dir)
		if err != nil {
			return fmt.Errorf("%s: %w", d.flag, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("%s %s is not a directory", d.flag, d.dir)
		}
	}
	return nil
}

// sampleMedia is a sample ready for the GAR loop.
type sampleMedia struct {
	jpeg                    []byte
	modelWidth, modelHeight int
	frameWidth, frameHeight int
	wav                     []byte
	rmsDBFS                 float64
	ptsStart, ptsEnd, frame time.Duration
}

// loader reads samples' inputs.
type loader struct {
	kind      dataset.Kind
	layout    Layout
	modelSize int
	decoder   media.FileDecoder
	log       hclog.Logger
}

// firstExisting returns the first of names that exists under dir, or the
// paths it looked at.
func firstExisting(dir string, names []string) (string, []string) {
	tried := make([]string, len(names))
	for i, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return p, nil // exists but unreadable: decoding will say why
		}
		tried[i] = p
	}
	return "", tried
}

func missing(what, id string, tried []string) *samples.Failure {
	return &samples.Failure{Reason: samples.ReasonMissingInput,
		Error: fmt.Sprintf("no %s for sample %q: looked for %s", what, id, strings.Join(tried, ", "))}
}

func bad(format string, args ...any) *samples.Failure {
	return &samples.Failure{Reason: samples.ReasonBadInput, Error: fmt.Sprintf(format, args...)}
}

// sizeFor is the model input size for a frame: a model_size square for
// single sources; for duets the frame's aspect with the short side at
// model_size and the long side rounded to a multiple of 28.
func (l *loader) sizeFor(frameW, frameH int) (int, int) {
	s := l.modelSize
	if !l.kind.Duet() || frameW <= 0 || frameH <= 0 {
		return s, s
	}
	long := func(ratio float64) int {
		return max(s, int(math.Round(float64(s)*ratio/windowing.ModelPatch))*windowing.ModelPatch)
	}
	if frameW >= frameH {
		return long(float64(frameW) / float64(frameH)), s
	}
	return s, long(float64(frameH) / float64(frameW))
}

// guess is the model size before the frame is seen: a duet composite is
// two frames side by side.
func (l *loader) guess() (int, int) {
	if l.kind.Duet() {
		return 2 * l.modelSize, l.modelSize
	}
	return l.modelSize, l.modelSize
}

// load reads sample id's inputs. A nil failure means m is complete.
func (l *loader) load(ctx context.Context, id string) (sampleMedia, *samples.Failure) {
	if l.layout.Videos != "" {
		return l.loadVideo(ctx, id)
	}
	return l.loadStill(id)
}

func (l *loader) loadStill(id string) (sampleMedia, *samples.Failure) {
	frame, tried := firstExisting(l.layout.Frames, l.kind.FrameNames(id))
	if frame == "" {
		return sampleMedia{}, missing("frame", id, tried)
	}
	audio, tried := firstExisting(l.layout.Audio, l.kind.AudioNames(id))
	if audio == "" {
		return sampleMedia{}, missing("audio", id, tried)
	}
	mw, mh := l.guess()
	still, err := l.decoder.LoadStill(frame, audio, mw, mh)
	if err == nil {
		if w, h := l.sizeFor(still.Picture.Width, still.Picture.Height); w != mw || h != mh {
			mw, mh = w, h
			still, err = l.decoder.LoadStill(frame, audio, mw, mh)
		}
	}
	if err != nil {
		return sampleMedia{}, bad("sample %q: %v", id, err)
	}
	got := time.Duration(len(still.Samples)) * time.Second / windowing.SampleRate
	if got < minAudio {
		return sampleMedia{}, bad("sample %q: %s holds %v of sound, less than %v", id, audio, got, minAudio)
	}
	n := int(Window.Seconds() * windowing.SampleRate)
	fitted := windowing.Fit(still.Samples, n)
	start := max(got/2-Window/2, 0)
	return sampleMedia{
		jpeg: still.Picture.JPEG, modelWidth: mw, modelHeight: mh,
		frameWidth: still.Picture.Width, frameHeight: still.Picture.Height,
		wav: windowing.EncodeWAV(fitted), rmsDBFS: windowing.RMSDBFS(fitted),
		ptsStart: start, ptsEnd: start + Window, frame: got / 2,
	}, nil
}

func (l *loader) loadVideo(ctx context.Context, id string) (sampleMedia, *samples.Failure) {
	path, tried := firstExisting(l.layout.Videos, l.kind.VideoNames(id))
	if path == "" {
		return sampleMedia{}, missing("video", id, tried)
	}
	mw, mh := l.guess()
	w, err := l.middleWindow(ctx, path, mw, mh)
	if err == nil {
		if sw, sh := l.sizeFor(w.Width, w.Height); sw != mw || sh != mh {
			w, err = l.middleWindow(ctx, path, sw, sh)
		}
	}
	if err != nil {
		return sampleMedia{}, bad("sample %q: %v", id, err)
	}
	return sampleMedia{
		jpeg: w.JPEG, modelWidth: w.ModelWidth, modelHeight: w.ModelHeight,
		frameWidth: w.Width, frameHeight: w.Height, wav: w.WAV, rmsDBFS: w.RMSDBFS,
		ptsStart: w.PTSStart, ptsEnd: w.PTSEnd, frame: w.FramePTS,
	}, nil
}

// middleWindow cuts path into 3 s windows on a 100 ms grid with the
// daemon's capture and windowing, and returns the middle one.
func (l *loader) middleWindow(ctx context.Context, path string, mw, mh int) (windowing.Window, error) {
	var windows []windowing.Window
	cutter, err := windowing.NewCutter(windowing.Config{Stream: "eval", Length: Window, Hop: videoHop}, func(w windowing.Window) {
		windows = append(windows, w)
	})
	if err != nil {
		return windowing.Window{}, err
	}
	log := l.log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	runErr := l.decoder.DecodeFile(ctx, path, mw, mh, cutter, log)
	cutter.Flush()
	if runErr != nil {
		return windowing.Window{}, runErr
	}
	if err := ctx.Err(); err != nil {
		return windowing.Window{}, err
	}
	if len(windows) == 0 {
		return windowing.Window{}, fmt.Errorf("%s gave no complete %v window: shorter than %v, or no picture near its middle", path, Window, Window)
	}
	return windows[(len(windows)-1)/2], nil
}
