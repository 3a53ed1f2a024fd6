package main

import (
	"context"
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
	if err != nil {
		// Diagnostics already read "file:line:col: message", one per line.
		return usageError{"\n" + err.Error()}
	}
	fmt.Fprintf(stdout, "%s: ok (%d streams)\n", *path, len(cfg.Streams))
	return nil
}
