package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/garssl/garssld/config"
)

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to validate")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("usage: garssld check --config FILE")
	}
	cfg, err := config.LoadFile(*path)
	if err == nil {
		err = cfg.ValidateForRun()
	}
	var diags config.Diagnostics
	if errors.As(err, &diags) {
		// Each line reads "file:line:col: message" and names the file
		// itself; at most config.MaxShown of them, then a count.
		fmt.Fprintln(stderr, err)
		return printedError{err: err, usage: true}
	}
	if err != nil {
		return usageError{err.Error()}
	}
	// Warnings do not fail the check: the config loads and runs.
	for _, d := range cfg.Warnings() {
		d.Message = "warning: " + d.Message
		fmt.Fprintln(stderr, d)
	}
	fmt.Fprintf(stdout, "%s: ok (%d streams)\n", *path, len(cfg.Streams))
	return nil
}
