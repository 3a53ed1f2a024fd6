// Command garssld is the garssl daemon and its tools: it finds where in a
// robot's camera picture a sound comes from. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// printedError is an error the command has already written out in full
// (check's diagnostics): mainCode only maps it to an exit code.
type printedError struct {
	err   error
	usage bool // exit 2 rather than 1
}

func (e printedError) Error() string { return e.err.Error() }
func (e printedError) Unwrap() error { return e.err }

// errHelpShown ends a command after --help printed its flags: exit 0.
var errHelpShown = errors.New("help shown")

// parseFlags parses a command's flags; stray arguments are a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelpShown
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"check", "validate a config file; diagnostics as file:line:col: message", runCheck},
		{"run", "the daemon: capture, the GAR loop, MQTT, metrics; reload with SIGHUP", runRun},
		{"dump", "write what the model would see for each window of an input", runDump},
		{"eval", "run a benchmark (VGG-SS, MUSIC, duets) through the GAR loop and report its metrics; --doa: direction of arrival on STARSS23", runEval},
		{"locate", "run one picture and sound through the GAR loop; print the detection", runLocate},
		{"status", "ask the running daemon how its streams, broker and model are doing", runStatus},
		{"score", "recompute the benchmark metrics from saved predictions (samples.jsonl)", runScore},
		{"version", "print the version and the linked FFmpeg libraries", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := mainCode(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// mainCode runs a command and maps its error to an exit code: 0 success,
// 2 usage or input errors the user must fix, 1 runtime failures.
func mainCode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		if err == nil || errors.Is(err, errHelpShown) {
			return 0
		}
		var pe printedError
		if errors.As(err, &pe) {
			if pe.usage {
				return 2
			}
			return 1
		}
		fmt.Fprintf(stderr, "garssld %s: %v\n", c.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stderr, "garssld: unknown command %q\n", args[0])
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: garssld <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'garssld <command> --help' for a command's flags.")
}
