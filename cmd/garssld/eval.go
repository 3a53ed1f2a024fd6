package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/term"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/daemon"
	"github.com/garssl/garssld/eval"
	"github.com/garssl/garssld/eval/dataset"
	"github.com/garssl/garssld/eval/report"
	"github.com/garssl/garssld/eval/samples"
	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/redact"
	"github.com/garssl/garssld/internal/syncbuf"
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if doaRequested(args) {
		return runEvalDoA(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("doa", false, "evaluate direction of arrival on STARSS23 MIC recordings instead (garssld eval --doa --help)")
	bench := addBenchmarkFlags(fs)
	frames := fs.String("frames", "", "directory of centre frames, <id>.jpg (with --audio)")
	audio := fs.String("audio", "", "directory of sound files, <id>.wav at any rate and channel count (with --frames)")
	videos := fs.String("videos", "", "directory of clips, <id>.mp4 (instead of --frames and --audio)")
	cfgPath := fs.String("config", "", "garssld config (HCL) for the mllm and gar settings; default: built-in defaults")
	out := fs.String("out", "", "output directory; an earlier run there is resumed")
	limit := fs.Int("limit", 0, "evaluate only the first N samples of the annotations (0: all)")
	concurrency := fs.Int("concurrency", 4, "samples in the GAR loop at once")
	visualise := fs.Bool("vis", false, "write OUT/vis/<id>.jpg with the predicted and ground-truth boxes")
	retryFailed := fs.Bool("retry-failed", false, "redo the samples an earlier run recorded as failed")
	restart := fs.Bool("restart", false, "discard what an earlier run recorded in --out and start over")
	var endpoints stringsFlag
	fs.Var(&endpoints, "endpoint", "model server base URL (repeatable; overrides the config)")
	tauAV := fs.Float64("tau-av", math.NaN(), "gate threshold τ_av (default: the config's if it sets one, else the benchmark's of design §3.4)")
	tauAudio := fs.Float64("tau-audio", math.NaN(), "gate threshold τ_audio (default: as for --tau-av)")
	logLevel := fs.String("log-level", "warn", "trace, debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !bench.given() || *out == "" {
		return usagef("--dataset, --annotations and --out are required, with --frames and --audio or --videos")
	}
	if *limit < 0 || *concurrency < 1 || *concurrency > 1024 {
		return usagef("--limit must be 0 or more and --concurrency 1 to 1024")
	}
	layout := eval.Layout{Frames: *frames, Audio: *audio, Videos: *videos}
	if err := layout.Check(); err != nil {
		return usageError{err.Error()}
	}
	for _, t := range []struct {
		flag string
		v    float64
	}{{"--tau-av", *tauAV}, {"--tau-audio", *tauAudio}} {
		if !math.IsNaN(t.v) && (t.v < 0 || t.v > 1) {
			return usagef("%s %v must lie in [0,1]", t.flag, t.v)
		}
	}
	ann, protocol, err := bench.load()
	if err != nil {
		return err
	}
	kind := ann.Kind
	cfg, err := loadConfig(*cfgPath, config.Overrides{Endpoints: endpoints, MaxSources: kind.Sources()})
	if err != nil {
		return err
	}
	tauSource := applyGateThresholds(cfg, kind, *tauAV, *tauAudio)
	// The log and the progress display share stderr from several goroutines.
	errOut := syncbuf.NewWriter(stderr)
	log := hclog.New(&hclog.LoggerOptions{Name: "garssld", Level: hclog.LevelFromString(*logLevel), Output: errOut})
	capture.RouteFFmpegLogs(log)
	defer capture.FlushFFmpegLogs()
	fitInFlight(cfg, *concurrency, log)

	loc, client, err := daemon.NewLocalizer(cfg, log, nil)
	if err != nil {
		return usageError{err.Error()}
	}
	defer client.CloseIdleConnections()
	terminal := false
	if f, ok := stderr.(*os.File); ok {
		terminal = term.IsTerminal(int(f.Fd()))
	}
	inputs := fmt.Sprintf("frames %s, audio %s", *frames, *audio)
	if *videos != "" {
		inputs = "videos " + *videos + " (capture and windowing as in the daemon; middle 3 s window)"
	}
	sizeRule := fmt.Sprintf("%d×%d", cfg.GAR.ModelSize, cfg.GAR.ModelSize)
	if kind.Duet() {
		sizeRule = fmt.Sprintf("short side %d, the frame's aspect kept (448×224 for a 448×224 composite)", cfg.GAR.ModelSize)
	}
	cfgName := *cfgPath
	if cfgName == "" {
		cfgName = "built-in defaults"
	}
	rep, err := eval.Run(ctx, eval.Options{
		Annotations: ann, Layout: layout, Out: *out, Protocol: protocol, Limit: *limit,
		Concurrency: *concurrency, Vis: *visualise, RetryFailed: *retryFailed, Restart: *restart,
		Made:      madeWith(cfg, layout),
		Localizer: loc, Decoder: capture.Files{}, NodeID: cfg.NodeID, ModelSize: cfg.GAR.ModelSize, SampleDeadline: cfg.MLLM.WindowDeadline,
		Log: log, Progress: errOut, ProgressTerminal: terminal,
		Settings: []report.Setting{
			{Name: "benchmark", Value: fmt.Sprintf("%s (%s, %d samples)", kind.Title(), ann.Name, len(ann.Samples))},
			{Name: "inputs", Value: inputs},
			{Name: "protocol", Value: string(protocol)},
			{Name: "model", Value: fmt.Sprintf("%s at %s", cfg.MLLM.Model, strings.Join(cfg.MLLM.Endpoints, ", "))},
			{Name: "analysis trials N", Value: fmt.Sprint(cfg.GAR.AnalysisTrials)},
			{Name: "τ_av / τ_audio", Value: fmt.Sprintf("%.2f / %.2f (%s)", cfg.GAR.TauAV, cfg.GAR.TauAudio, tauSource)},
			{Name: "max_sources", Value: fmt.Sprint(cfg.GAR.MaxSources)},
			{Name: "model input", Value: sizeRule},
			{Name: "schedule, n support, structured output", Value: fmt.Sprintf("%s, %v, %v", cfg.MLLM.Schedule, cfg.MLLM.SupportsN, cfg.MLLM.StructuredOutput)},
			{Name: "analysis sampling", Value: fmt.Sprintf("temperature %.2f, top_p %.2f", cfg.GAR.Temperature, cfg.GAR.TopP)},
			{Name: "silence gate", Value: "off: every sample goes to the model"},
			{Name: "concurrency, max_in_flight", Value: fmt.Sprintf("%d samples, %d requests per endpoint", *concurrency, cfg.MLLM.MaxInFlight)},
			{Name: "config", Value: cfgName},
			{Name: "garssld", Value: version},
		},
	})
	if err != nil {
		var ie *eval.InputError
		if errors.As(err, &ie) {
			return usageError{err.Error()}
		}
		return err
	}
	fmt.Fprintln(stdout, headline(rep, *out))
	return nil
}

// madeWith are the settings a sample's result depends on, as recorded in
// each line of samples.jsonl.
func madeWith(cfg *config.Config, layout eval.Layout) samples.Settings {
	endpoints := make([]string, len(cfg.MLLM.Endpoints))
	for i, e := range cfg.MLLM.Endpoints {
		endpoints[i] = redact.URL(e)
	}
	slices.Sort(endpoints)
	inputs := "frames"
	if layout.Videos != "" {
		inputs = "videos"
	}
	return samples.Settings{
		Model: cfg.MLLM.Model, Endpoints: endpoints,
		TauAV: cfg.GAR.TauAV, TauAudio: cfg.GAR.TauAudio, AnalysisTrials: cfg.GAR.AnalysisTrials,
		ModelSize: cfg.GAR.ModelSize, MaxSources: cfg.GAR.MaxSources,
		Temperature: cfg.GAR.Temperature, TopP: cfg.GAR.TopP,
		Schedule: string(cfg.MLLM.Schedule), SupportsN: cfg.MLLM.SupportsN, StructuredOutput: cfg.MLLM.StructuredOutput,
		Inputs: inputs,
	}
}

// applyGateThresholds sets τ_av and τ_audio: a flag wins, then the config
// file, then the benchmark's values of design §3.4. It says where they came
// from.
func applyGateThresholds(cfg *config.Config, kind dataset.Kind, flagAV, flagAudio float64) string {
	av, audio := eval.GateThresholds(kind)
	source := []string{}
	pick := func(dst *float64, flagV float64, path, name string, benchmark float64) {
		switch {
		case !math.IsNaN(flagV):
			*dst = flagV
			source = append(source, name+" from the flag")
		case cfg.IsSet(path):
			source = append(source, name+" from the config")
		default:
			*dst = benchmark
			source = append(source, name+" from design §3.4 for "+kind.Title())
		}
	}
	pick(&cfg.GAR.TauAV, flagAV, "gar.tau_av", "τ_av", av)
	pick(&cfg.GAR.TauAudio, flagAudio, "gar.tau_audio", "τ_audio", audio)
	return strings.Join(source, ", ")
}

// fitInFlight raises the per-endpoint request cap to what the concurrency
// can use, unless the config sets it; a cap set lower is kept and noted.
func fitInFlight(cfg *config.Config, concurrency int, log hclog.Logger) {
	perSample := 2 // locate ∥ audio
	if cfg.MLLM.SupportsN {
		perSample = max(perSample, cfg.GAR.MaxSources)
	} else {
		perSample = max(perSample, cfg.GAR.MaxSources*cfg.GAR.AnalysisTrials)
	}
	need := concurrency * perSample
	switch {
	case !cfg.IsSet("mllm.max_in_flight"):
		cfg.MLLM.MaxInFlight = max(cfg.MLLM.MaxInFlight, need)
	case cfg.MLLM.MaxInFlight < need:
		log.Warn("mllm.max_in_flight is below what --concurrency can use; samples will wait for request slots",
			"max_in_flight", cfg.MLLM.MaxInFlight, "could_use", need)
	}
}

func headline(r report.Report, out string) string {
	kind := dataset.Kind(r.Dataset)
	f := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f", 100**v)
	}
	var main string
	if kind.Duet() {
		main = fmt.Sprintf("CAP %s  CIoU@0.3 %s  AUC %s", f(r.CAP), f(&r.CIoUAt03), f(&r.AUC))
	} else {
		main = fmt.Sprintf("AP %s  IoU@0.5 %s  AUC %s", f(r.AP), f(&r.CIoUAt05), f(&r.AUC))
	}
	return fmt.Sprintf("%s, protocol %s: %s  (%d samples, %d failed)  report: %s/%s",
		kind.Title(), r.Protocol, main, r.NSamples, r.NFailed, strings.TrimRight(out, "/"), eval.ReportMD)
}

var _ eval.Localizer = (*gar.Localizer)(nil)
