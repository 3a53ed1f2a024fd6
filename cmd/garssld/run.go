package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/daemon"
	"github.com/garssl/garssld/sdnotify"
)

// runRun is `garssld run`: the daemon. Exit codes: 2 when the config (or
// what it names) must be fixed, which systemd does not restart
// (RestartPreventExitStatus=2); 1 when it fails at run time (a port in
// use, a component that dies); 0 after SIGTERM or SIGINT.
func runRun(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (HCL); read again on SIGHUP")
	logLevel := fs.String("log-level", "", "trace, debug, info, warn or error; overrides log.level, also across reloads")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("usage: garssld run --config FILE [--log-level LEVEL]")
	}
	if *logLevel != "" {
		if err := config.CheckLogLevel("--log-level", *logLevel); err != nil {
			return usageError{err.Error()}
		}
	}
	load := func() (*config.Config, error) {
		cfg, err := config.LoadFile(*path)
		if err != nil {
			return nil, err
		}
		if err := cfg.Override(config.Overrides{LogLevel: *logLevel}); err != nil {
			return nil, err
		}
		if err := cfg.ValidateForRun(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	notify := sdnotify.NewNotifier(nil)
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		_ = notify.Status("config error: " + firstLine(err.Error()))
		return printedError{err: err, usage: true}
	}

	log := daemon.NewLogger(cfg.Log, stderr)
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	d, err := daemon.New(daemon.Options{
		Config: cfg, Load: load, Logger: log, Signals: signals,
		Version: version, FFmpeg: ffmpegVersion(),
	})
	if err != nil {
		log.Error("cannot start", "error", err)
		_ = notify.Status("cannot start: " + firstLine(err.Error()))
		var ce daemon.ConfigError
		return printedError{err: err, usage: errors.As(err, &ce)}
	}
	capture.RouteFFmpegLogs(log)
	if err := d.Run(ctx); err != nil {
		// The owner loop logged it.
		return printedError{err: err}
	}
	return nil
}

// ffmpegVersion names the linked libavcodec for garssl_build_info.
func ffmpegVersion() string {
	for _, v := range capture.LibraryVersions() {
		if strings.HasPrefix(v, "libavcodec ") {
			return v
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
