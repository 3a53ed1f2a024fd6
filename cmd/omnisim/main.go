// Command omnisim serves a SIMULATED Qwen2.5-Omni behind an OpenAI-compatible
// API so that garssld can be developed and tested without a GPU. See package
// github.com/garssl/garssld/omnisim for the rules it follows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/omnisim"
)

const usageHead = `omnisim - a SIMULATOR of Qwen2.5-Omni behind vLLM's OpenAI API.

It does not understand audio or images. Answers are deterministic functions of
(--seed, stage, SHA-256 of the media, source index, trial index), shaped like
garssld's contract; with --truth, boxes come from plain colour matching.

Endpoints: GET /v1/models, POST /v1/chat/completions, GET /healthz, GET /stats,
GET|POST /admin/faults. On start-up the first line on stdout is
"listening http://HOST:PORT".

Latency model (simulated ms; real sleep = simulated × --time-scale):
  total   = base-ms + queue + prefill + decode
  prefill = (prompt − cached tokens) × prefill-ms-per-token, once for all n
            choices, serialised across requests (queue = wait for others)
  decode  = Σ steps of decode-ms-per-token × (1 + batch-slowdown × (active−1)),
            steps = longest choice, active = sequences decoding in all requests
  e.g. uncached 500-token prompt, 60-token answer: 10 + 250 + 360 = 620 ms.
Tokens: image (W/28)·(H/28)+2 (224×224 → 66), audio ceil(s·25)+2 (3 s → 77),
text ceil(bytes/4).

Faults (one seeded draw per request; hangs and --down run on real time):
  --error-rate → HTTP 500; --timeout-rate → hang until the client leaves or
  --hang-max, then 504; --garbage-rate → 200 with unparsable content;
  --down 10s-20s,40s-45s:close → 503 (or a dropped connection) in those
  windows after start; --refuse-media vllm-audio|llama-no-mmproj → HTTP 500
  with that server's message to requests carrying audio (or any media).
  POST /admin/faults {"error_rate":0,...} changes them.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errReported means the flag package has already printed the problem.
var errReported = errors.New("usage error already reported")

// options are the flags that are not part of omnisim.Config.
type options struct {
	listen   string
	portFile string
	logLevel string
	logJSON  bool
}

// run serves until ctx ends and returns the exit code: 2 for usage errors.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, opts, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errReported) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "omnisim: %v\n", err)
		return 2
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "omnisim",
		Level:      hclog.LevelFromString(opts.logLevel),
		JSONFormat: opts.logJSON,
		Output:     stderr,
	})
	srv, err := omnisim.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := serve(ctx, srv, opts, stdout, logger); err != nil {
		logger.Error("server failed", "error", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stdout, stderr io.Writer) (omnisim.Config, options, error) {
	cfg := omnisim.DefaultConfig()
	opts := options{listen: "127.0.0.1:8000", logLevel: "info"}
	var down string
	fs := flag.NewFlagSet("omnisim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The flag package prints the offending flag itself; the full text is
	// for --help only, and goes to stdout.
	fs.Usage = func() {}
	fs.StringVar(&opts.listen, "listen", opts.listen, "address to listen on; port 0 picks a free port")
	fs.StringVar(&opts.portFile, "port-file", "", "write the port actually bound to this file")
	fs.StringVar(&opts.logLevel, "log-level", opts.logLevel, "trace, debug, info, warn or error")
	fs.BoolVar(&opts.logJSON, "log-json", false, "log as JSON lines")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model name to serve")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every answer and fault draw")
	fs.IntVar(&cfg.Sources, "sources", cfg.Sources, "sources K when a locate/audio request does not say (1..8)")
	fs.StringVar(&cfg.TruthFile, "truth", "", "truth sidecar JSON: colour-matched boxes and a fixed audio class")
	fs.BoolVar(&cfg.PrefixCache, "prefix-cache", cfg.PrefixCache, "model vLLM's automatic prefix caching")
	fs.BoolVar(&cfg.PromptTokensDetails, "prompt-tokens-details", cfg.PromptTokensDetails,
		"report usage.prompt_tokens_details.cached_tokens (vLLM's --enable-prompt-tokens-details); false sends null")
	fs.IntVar(&cfg.CacheEntries, "cache-entries", cfg.CacheEntries, "prefix cache capacity (LRU, in prefixes)")
	fs.DurationVar(&cfg.CacheTTL, "cache-ttl", cfg.CacheTTL, "prefix cache entry lifetime")
	fs.Float64Var(&cfg.BaseMs, "base-ms", cfg.BaseMs, "fixed overhead per request, simulated ms")
	fs.Float64Var(&cfg.PrefillMsPerToken, "prefill-ms-per-token", cfg.PrefillMsPerToken, "prefill cost per uncached prompt token, simulated ms")
	fs.Float64Var(&cfg.DecodeMsPerToken, "decode-ms-per-token", cfg.DecodeMsPerToken, "decode step cost for a batch of one, simulated ms")
	fs.Float64Var(&cfg.BatchSlowdown, "batch-slowdown", cfg.BatchSlowdown, "extra decode step cost per other active sequence")
	fs.Float64Var(&cfg.TimeScale, "time-scale", cfg.TimeScale, "real sleep per simulated ms (0 = answer at once)")
	fs.Float64Var(&cfg.Faults.ErrorRate, "error-rate", 0, "probability of HTTP 500")
	fs.Float64Var(&cfg.Faults.TimeoutRate, "timeout-rate", 0, "probability of hanging (until the client leaves or --hang-max)")
	fs.Float64Var(&cfg.Faults.GarbageRate, "garbage-rate", 0, "probability of unparsable content")
	fs.DurationVar(&cfg.Faults.HangMax, "hang-max", cfg.Faults.HangMax, "longest injected hang, real time")
	fs.Func("refuse-media", "answer media the way a server without support for them does: vllm-audio (vLLM without vllm[audio]) or llama-no-mmproj (llama-server without --mmproj)",
		func(s string) error { cfg.Faults.RefuseMedia = omnisim.MediaRefusal(s); return nil })
	fs.StringVar(&down, "down", "", "outage windows after start, e.g. 10s-20s,40s-45s:close (503, or :close drops the connection)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageHead)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return cfg, opts, err
		}
		fmt.Fprintln(stderr, "run 'omnisim --help' for usage")
		return cfg, opts, errReported
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected argument %q (omnisim takes flags only; see --help)", fs.Arg(0))
	}
	if hclog.LevelFromString(opts.logLevel) == hclog.NoLevel {
		return cfg, opts, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", opts.logLevel)
	}
	windows, err := omnisim.ParseDownWindows(down)
	if err != nil {
		return cfg, opts, err
	}
	cfg.Faults.Down = windows
	return cfg, opts, nil
}

// serve runs the HTTP server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, srv *omnisim.Server, opts options, stdout io.Writer, logger hclog.Logger) error {
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", opts.listen, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if opts.portFile != "" {
		if err := writePortFile(opts.portFile, addr.Port); err != nil {
			ln.Close()
			return err
		}
	}
	// Requests hang on this context too, so a shutdown that runs out of
	// patience can end injected hangs and latency sleeps.
	requestCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return requestCtx },
	}
	fmt.Fprintf(stdout, "listening http://%s\n", addr)
	logger.Info("omnisim started (a simulator, not a model)", "addr", addr.String(), "model", srv.Config().Model, "seed", srv.Config().Seed)

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("graceful shutdown timed out; ending open requests", "error", err)
		cancelRequests()
		httpSrv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// writePortFile writes atomically so a script polling for the file never
// reads half a number.
func writePortFile(path string, port int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".omnisim-port-*")
	if err != nil {
		return fmt.Errorf("--port-file: %w", err)
	}
	_, werr := tmp.WriteString(strconv.Itoa(port) + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--port-file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--port-file %s: %w", path, err)
	}
	return nil
}
