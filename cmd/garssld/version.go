package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/garssl/garssld/capture"
)

func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("version takes no arguments, got %q", args)
	}
	fmt.Fprintf(stdout, "garssld %s (%s)\n", version, runtime.Version())
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/asticode/go-astiav" {
				fmt.Fprintf(stdout, "go-astiav %s\n", dep.Version)
			}
		}
	}
	for _, v := range capture.LibraryVersions() {
		fmt.Fprintln(stdout, v)
	}
	return nil
}
