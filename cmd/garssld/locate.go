package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/ulid/v2"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/daemon"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/windowing"
)

// stringsFlag collects a repeatable string flag.
type stringsFlag []string

func (f *stringsFlag) String() string     { return strings.Join(*f, ",") }
func (f *stringsFlag) Set(s string) error { *f = append(*f, s); return nil }

func runLocate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("locate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	image := fs.String("image", "", "picture: JPEG, PNG or any file FFmpeg reads (its first frame)")
	audio := fs.String("audio", "", "sound: WAV or any file FFmpeg reads, at least 0.5 s; longer than --window is cut to its centre, shorter is padded with silence")
	cfgPath := fs.String("config", "", "garssld config (HCL) for the mllm and gar settings; default: built-in defaults")
	var endpoints stringsFlag
	fs.Var(&endpoints, "endpoint", "model server base URL, e.g. http://127.0.0.1:8000/v1 (repeatable; overrides the config)")
	modelSize := fs.Int("model-size", 0, "model input side in pixels, a multiple of 28 (default: the config's, 224)")
	window := fs.Duration("window", windowing.DefaultLength, "audio length sent to the model")
	hfov := fs.Float64("hfov", 0, "camera horizontal field of view in degrees, above 0 and below 180; adds bearing_deg")
	logLevel := fs.String("log-level", "warn", "trace, debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *image == "" || *audio == "" {
		return usagef("--image and --audio are required")
	}
	var hfovErr error
	if flagSet(fs, "hfov") {
		hfovErr = config.CheckHFOV("--hfov", *hfov)
	}
	if err := checkFlags(config.CheckWindow("--window", *window), hfovErr, config.CheckLogLevel("--log-level", *logLevel)); err != nil {
		return err
	}
	for _, f := range []string{*image, *audio} {
		if _, err := os.Stat(f); err != nil {
			return usageError{err.Error()}
		}
	}
	cfg, err := loadConfig(*cfgPath, config.Overrides{Endpoints: endpoints, ModelSize: *modelSize})
	if err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "garssld", Level: hclog.LevelFromString(*logLevel), Output: stderr})
	capture.RouteFFmpegLogs(log)
	defer capture.FlushFFmpegLogs()

	size := cfg.GAR.ModelSize
	still, err := capture.LoadStill(*image, *audio, size, size)
	if err != nil {
		return usageError{err.Error()}
	}
	heard := time.Duration(len(still.Samples)) * time.Second / windowing.SampleRate
	if heard < config.MinWindow {
		return usagef("--audio %s holds %.3f s of sound (%d samples at 16 kHz); give at least %v", *audio, heard.Seconds(), len(still.Samples), config.MinWindow)
	}
	// What the daemon would send: exactly one window, cut around the
	// middle or padded with silence.
	samples := windowing.Fit(still.Samples, int(window.Seconds()*windowing.SampleRate))
	loc, client, err := daemon.NewLocalizer(cfg, log, nil)
	if err != nil {
		return usageError{err.Error()}
	}
	defer client.CloseIdleConnections()

	seq := uint64(1)
	ctx, cancel := context.WithTimeout(ctx, cfg.MLLM.WindowDeadline)
	defer cancel()
	// The sound ends now: the window is the span just heard.
	end := time.Now()
	res := loc.Localize(ctx, gar.Input{
		RequestID: fmt.Sprintf("%s/locate/%d", cfg.NodeID, seq),
		ImageJPEG: still.Picture.JPEG, ModelWidth: size, ModelHeight: size,
		WAV: windowing.EncodeWAV(samples), FrameWidth: still.Picture.Width, FrameHeight: still.Picture.Height,
		HFOVDeg: *hfov,
	})
	if res.Status == gar.StatusMLLMUnavailable {
		return fmt.Errorf("the model could not be used, so nothing was localised: %w", res.Err)
	}
	d := gar.NewDetection(gar.WindowMeta{
		Node: cfg.NodeID, RunID: ulid.Make().String(), Stream: "locate", Seq: seq,
		Start: end.Add(-*window), End: end, PTSEnd: *window, FramePTS: *window / 2,
		FrameWidth: still.Picture.Width, FrameHeight: still.Picture.Height, ModelWidth: size, ModelHeight: size,
		RMSDBFS: windowing.RMSDBFS(samples),
	}, res)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("encode detection: %w", err)
	}
	fmt.Fprintln(stdout, string(out))
	reason := ""
	if res.Err != nil {
		reason = d.Error
		log.Warn("no usable answer", "status", res.Status, "error", reason)
	}
	for _, f := range res.Failures {
		if f.Error != reason {
			log.Warn("stage failed", "stage", f.Stage, "error", f.Error)
		}
	}
	return nil
}

// flagSet reports whether the command line set the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loadConfig reads path (or takes the defaults) and applies the flags.
// Config errors are usage errors: the user must fix the file.
func loadConfig(path string, o config.Overrides) (*config.Config, error) {
	var cfg *config.Config
	if path != "" {
		c, err := config.LoadFile(path)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		cfg = c
	} else {
		d := config.Default()
		cfg = &d
	}
	if err := cfg.Override(o); err != nil {
		return nil, usageError{err.Error()}
	}
	return cfg, nil
}
