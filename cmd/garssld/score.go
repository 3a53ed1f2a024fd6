package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/garssl/garssld/eval/report"
	"github.com/garssl/garssld/eval/samples"
)

func runScore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bench := addBenchmarkFlags(fs)
	predictions := fs.String("predictions", "", "samples.jsonl: detection payload v1 plus \"sample\", one line a sample")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !bench.given() || *predictions == "" {
		return usagef("--dataset, --annotations and --predictions are required")
	}
	ann, protocol, err := bench.load()
	if err != nil {
		return err
	}
	f, err := os.Open(*predictions)
	if err != nil {
		return usagef("predictions: %v", err)
	}
	defer f.Close()
	content, err := samples.Read(f, *predictions)
	if err != nil {
		return usageError{err.Error()}
	}
	if t := content.Tail; t != nil {
		return usagef("%s line %d is incomplete (%v): an interrupted eval; run it again on the same --out to finish, or delete the line",
			*predictions, t.Line, t.Err)
	}
	if len(content.Records) == 0 {
		return usagef("%s holds no predictions", *predictions)
	}
	rep, err := report.Score(ann, protocol, content.Records)
	if err != nil {
		var unknown *report.UnknownSampleError
		if errors.As(err, &unknown) {
			return usagef("%s %v", *predictions, err)
		}
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(js))
	return err
}
