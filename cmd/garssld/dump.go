package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/garssl/garssld/media"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/internal/redact"
	"github.com/garssl/garssld/windowing"
)

// windowFile is the JSON written beside each window's JPEG and WAV.
type windowFile struct {
	Seq           uint64  `json:"seq"`
	PTSStartS     float64 `json:"pts_start_s"`
	PTSEndS       float64 `json:"pts_end_s"`
	FramePTSS     float64 `json:"frame_pts_s"`
	Width         int     `json:"width"`
	Height        int     `json:"height"`
	ModelWidth    int     `json:"model_width"`
	ModelHeight   int     `json:"model_height"`
	Samples       int     `json:"samples"`
	SilenceFilled int     `json:"silence_filled"`
	RMSDBFS       float64 `json:"rms_dbfs"`
	WallStart     string  `json:"wall_start,omitempty"`
	WallEnd       string  `json:"wall_end,omitempty"`
}

// kvFlag collects repeated key=value flags into a map.
type kvFlag map[string]string

func (f kvFlag) String() string { return fmt.Sprint(map[string]string(f)) }
func (f kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	f[k] = v
	return nil
}

// parseModelSize parses "224" or "448x252"; each side follows the rule of
// gar.model_size.
func parseModelSize(s string) (w, h int, err error) {
	ws, hs, rect := strings.Cut(s, "x")
	if !rect {
		hs = ws
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("--model-size %q: write N or WxH, e.g. 224 or 448x252", s)
	}
	if !rect {
		return w, h, config.CheckModelSize("--model-size", w)
	}
	return w, h, errors.Join(config.CheckModelSize("--model-size width", w), config.CheckModelSize("--model-size height", h))
}

// checkFlags turns the failed checks of command-line values into one usage
// error, a line each.
func checkFlags(checks ...error) error {
	if err := errors.Join(checks...); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// ownFile matches the files dump writes: w000001.jpg, .wav and .json.
var ownFile = regexp.MustCompile(`^w[0-9]{6,}\.(jpg|wav|json)$`)

// removeOwnFiles deletes what an earlier dump left in dir, so that the
// directory holds this run's windows only, and nothing else of the user's.
func removeOwnFiles(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("read output directory: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !ownFile.MatchString(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, fmt.Errorf("remove an earlier dump's file: %w", err)
		}
		removed++
	}
	return removed, nil
}

func runDump(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "camera input: file, URL (rtsp://, udp://, srt://, http://) or device (v4l2:/dev/video0)")
	audio := fs.String("audio", "", "separate audio input (alsa:hw:1,0, pulse:default, a file or URL); default: the input's own audio")
	window := fs.Duration("window", windowing.DefaultLength, "window length")
	hop := fs.Duration("hop", windowing.DefaultHop, "distance between window starts")
	modelSize := fs.String("model-size", "224", "model input size, N or WxH, multiples of 28")
	maxWindows := fs.Int("max-windows", 0, "stop after this many windows (0: until the input ends)")
	out := fs.String("out", "", "directory for wNNNNNN.jpg/.wav/.json")
	skipFrame := fs.String("skip-frame", "", `frames the decoder may skip: "noref" or "nokey" (with --frame-pick nearest_key or all)`)
	framePick := fs.String("frame-pick", string(config.FramePickExact), `how a window's picture is decoded: "exact", "nearest_key" or "all"`)
	frameTolerance := fs.Duration("frame-tolerance", 500*time.Millisecond, "how far from a window's centre --frame-pick nearest_key may take a key frame")
	loop := fs.Bool("loop", false, "start a file again at its end")
	stall := fs.Duration("stall-timeout", capture.DefaultStallTimeout, "reopen a live input after this long without packets")
	threads := fs.String("threads", "", `decoder threads: a number or "auto" (default: 1 with --frame-pick exact or nearest_key, auto with all)`)
	logLevel := fs.String("log-level", "warn", "trace, debug, info, warn or error")
	inputOpts, audioOpts := kvFlag{}, kvFlag{}
	fs.Var(inputOpts, "option", "FFmpeg option for the input, key=value (repeatable), e.g. rtsp_transport=tcp")
	fs.Var(audioOpts, "audio-option", "FFmpeg option for the audio input, key=value (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *input == "" || *out == "" {
		return usagef("--input and --out are required")
	}
	mw, mh, sizeErr := parseModelSize(*modelSize)
	var audioErr error
	if *audio != "" {
		audioErr = config.CheckInput("--audio", *audio, true)
	}
	if err := checkFlags(
		config.CheckInput("--input", *input, true), audioErr,
		config.CheckWindow("--window", *window), config.CheckHop("--hop", *hop), sizeErr,
		config.CheckSkipFrame("--skip-frame", config.SkipFrame(*skipFrame)),
		config.CheckFramePick("--frame-pick", config.FramePick(*framePick)),
		config.CheckFramePickSkip("--skip-frame", config.FramePick(*framePick), config.SkipFrame(*skipFrame)),
		config.CheckFrameTolerance("--frame-tolerance", *frameTolerance),
		config.CheckStallTimeout("--stall-timeout", *stall), config.CheckLogLevel("--log-level", *logLevel),
	); err != nil {
		return err
	}
	if *maxWindows < 0 {
		return usagef("--max-windows %d must be 0 or more", *maxWindows)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	removed, err := removeOwnFiles(*out)
	if removed > 0 {
		fmt.Fprintf(stdout, "removed %d files of an earlier dump from %s\n", removed, *out)
	}
	if err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "garssld", Level: hclog.LevelFromString(*logLevel), Output: stderr})
	capture.RouteFFmpegLogs(log)
	defer capture.FlushFFmpegLogs()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var written int
	var writeErr error
	cutter, err := windowing.NewCutter(windowing.Config{Stream: "dump", Length: *window, Hop: *hop}, func(w windowing.Window) {
		mu.Lock()
		defer mu.Unlock()
		if writeErr != nil || (*maxWindows > 0 && written >= *maxWindows) {
			return
		}
		if err := writeWindow(*out, w); err != nil {
			writeErr = err
			cancel()
			return
		}
		written++
		fmt.Fprintf(stdout, "w%06d  pts %7.3f–%7.3f s  frame %7.3f s  %dx%d→%dx%d  %d samples  %6.1f dBFS\n",
			w.Seq, w.PTSStart.Seconds(), w.PTSEnd.Seconds(), w.FramePTS.Seconds(), w.Width, w.Height,
			w.ModelWidth, w.ModelHeight, w.Samples, w.RMSDBFS)
		if *maxWindows > 0 && written >= *maxWindows {
			cancel()
		}
	})
	if err != nil {
		return usageError{err.Error()}
	}
	if *threads == "" {
		*threads = dumpDecoderThreads(*framePick)
	}
	src, err := capture.New(capture.Config{
		Name: "dump", Input: *input, InputOptions: inputOpts, Audio: *audio, AudioOptions: audioOpts,
		SkipFrame: *skipFrame, Loop: *loop, Window: *window, StallTimeout: *stall, ModelWidth: mw, ModelHeight: mh, FailFast: true,
		DecoderThreads: *threads, FramePick: *framePick, FrameTolerance: *frameTolerance,
	}, cutter, log.Named("capture"), nil)
	if err != nil {
		return usageError{err.Error()}
	}
	runErr := src.Run(ctx)
	cutter.Flush()

	mu.Lock()
	defer mu.Unlock()
	var inputProblem bool
	for _, e := range []error{capture.ErrBadInput, capture.ErrNoAudio, capture.ErrNoVideo, capture.ErrUnsupported} {
		inputProblem = inputProblem || errors.Is(runErr, e)
	}
	if inputProblem && written == 0 {
		// Nothing was read: the error says it all.
		return usageError{runErr.Error()}
	}
	st := cutter.Stats()
	reasons := make([]string, 0, len(st.Dropped))
	for r, n := range st.Dropped {
		reasons = append(reasons, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(reasons)
	cs := src.Stats()
	fmt.Fprintf(stdout, "%d windows written to %s; dropped: [%s]; silence filled: %.3f s; decode errors: %d; reconnects: %d\n",
		written, *out, strings.Join(reasons, " "), float64(st.SilenceFilled)/windowing.SampleRate, cs.DecodeErrors, cs.Reconnects)
	switch {
	case writeErr != nil:
		return writeErr
	case inputProblem:
		return usageError{runErr.Error()}
	case runErr != nil:
		return runErr
	case written == 0 && ctx.Err() == nil:
		return noWindowError(*input, *window, config.SkipFrame(*skipFrame), st.Dropped)
	}
	return nil
}

// noWindowError says why an input that was read to its end gave no window.
func noWindowError(input string, window time.Duration, skip config.SkipFrame, dropped map[string]uint64) error {
	shown := redact.URL(input)
	if n := dropped[windowing.DropNoFrame]; n > 0 {
		hint := "the video has no frame near those moments"
		if skip == config.SkipFrameNonKey {
			hint = "--skip-frame nokey decodes key frames only, and this video has too few of them; use --skip-frame noref or leave it out"
		}
		return fmt.Errorf("%s gave no window: %d were dropped as %s, with no picture within %v of their centre; %s",
			shown, n, windowing.DropNoFrame, media.PictureTolerance, hint)
	}
	if len(dropped) > 0 {
		return fmt.Errorf("%s gave no window: all were dropped (%v)", shown, dropped)
	}
	return fmt.Errorf("%s gave no complete %v window (is it shorter than one window?)", shown, window)
}

// writeWindow writes one window's three files; the JSON goes last, so a
// reader that sees it sees the other two complete.
func writeWindow(dir string, w windowing.Window) error {
	base := filepath.Join(dir, fmt.Sprintf("w%06d", w.Seq))
	meta := windowFile{
		Seq: w.Seq, PTSStartS: w.PTSStart.Seconds(), PTSEndS: w.PTSEnd.Seconds(), FramePTSS: w.FramePTS.Seconds(),
		Width: w.Width, Height: w.Height, ModelWidth: w.ModelWidth, ModelHeight: w.ModelHeight,
		Samples: w.Samples, SilenceFilled: w.SilenceFilled, RMSDBFS: w.RMSDBFS,
	}
	if !w.WallStart.IsZero() {
		meta.WallStart, meta.WallEnd = w.WallStart.Format(time.RFC3339Nano), w.WallEnd.Format(time.RFC3339Nano)
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s.json: %w", base, err)
	}
	for _, f := range []struct {
		ext  string
		data []byte
	}{{".jpg", w.JPEG}, {".wav", w.WAV}, {".json", append(js, '\n')}} {
		if err := os.WriteFile(base+f.ext, f.data, 0o644); err != nil {
			return fmt.Errorf("write window %d: %w", w.Seq, err)
		}
	}
	return nil
}

// dumpDecoderThreads is dump's decoder thread count for a frame pick. A
// GOP-aware decode runs in bursts of a key frame and the frames up to a
// window's centre, so frame threads buy little speed, and each burst must
// end by draining and flushing them, which makes FFmpeg 5.1's H.264
// decoder allocate its frame pools and tables again, zeroed: one thread
// spends 0.78× the CPU of auto's three on the 1 s GOP 1080p clip of
// scripts/bench-dump.sh. A full decode keeps FFmpeg's automatic frame
// threads, as the ffmpeg CLI does.
func dumpDecoderThreads(framePick string) string {
	if framePick == string(config.FramePickAll) {
		return "auto"
	}
	return "1"
}
