package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/garssl/garssld/eval/starss"
)

// doaRequested tells `garssld eval --doa` from the GAR benchmarks, whose
// flags it does not share.
func doaRequested(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		return a == "--doa" || a == "-doa" || a == "--doa=true" || a == "-doa=true"
	})
}

// runEvalDoA is `garssld eval --doa`: direction of arrival on STARSS23's
// MIC recordings; no model server is involved.
func runEvalDoA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval --doa", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("doa", true, "direction-of-arrival evaluation (this mode)")
	mic := fs.String("mic", "", "the MIC recordings' directory (STARSS23's mic_dev), WAV files at any depth")
	meta := fs.String("metadata", "", "the metadata directory (metadata_dev): <same relative path>.csv for each recording")
	maxSources := fs.Int("max-sources", 3, "directions reported per window, 1 to 8")
	window := fs.Float64("window", 3, "window length in seconds, 0.5 to 30")
	out := fs.String("out", "", "also write the report (JSON) to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *mic == "" || *meta == "" {
		return usagef("--mic and --metadata are required with --doa")
	}
	if *maxSources < 1 || *maxSources > 8 || *window < 0.5 || *window > 30 {
		return usagef("--max-sources must be 1 to 8 and --window 0.5 to 30 seconds")
	}
	opt := starss.Options{MaxSources: *maxSources, WindowSeconds: *window}
	rep, err := starss.Evaluate(ctx, *mic, *meta, opt, func(clip string, done, total int) {
		fmt.Fprintf(stderr, "%d/%d %s\n", done, total, clip)
	})
	if err != nil {
		if errors.Is(err, starss.ErrNoClips) || errors.Is(err, os.ErrNotExist) {
			return usageError{err.Error()}
		}
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if *out != "" {
		if err := os.WriteFile(*out, append(js, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	_, err = fmt.Fprintln(stdout, string(js))
	return err
}
