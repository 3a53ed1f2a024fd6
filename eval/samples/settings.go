package samples

import (
	"fmt"
	"slices"
	"strconv"
)

// Settings are what shapes a sample's result besides its inputs: the
// model and where it runs, the GAR loop's parameters and the way inputs
// are read. eval records them in every line it writes, and refuses to
// resume a file whose lines were made with other settings, since its
// report would mix two experiments. The scoring protocol is not among
// them: every line is scored under both.
type Settings struct {
	Model string `json:"model"`
	// Endpoints are the model servers' base URLs, sorted and with any
	// credentials redacted: the set counts, not the order.
	Endpoints      []string `json:"endpoints"`
	TauAV          float64  `json:"tau_av"`
	TauAudio       float64  `json:"tau_audio"`
	AnalysisTrials int      `json:"analysis_trials"`
	ModelSize      int      `json:"model_size"`
	MaxSources     int      `json:"max_sources"`
	Temperature    float64  `json:"temperature"`
	TopP           float64  `json:"top_p"`
	// Schedule, SupportsN and StructuredOutput change which requests the
	// model sees and how its answers are constrained.
	Schedule         string `json:"schedule"`
	SupportsN        bool   `json:"supports_n"`
	StructuredOutput bool   `json:"structured_output"`
	// Inputs is "frames" (--frames and --audio) or "videos" (--videos,
	// through capture and windowing).
	Inputs string `json:"inputs"`
}

// Differences names each setting in which s differs from was, as
// "tau_av 0.5 → 0.6", in a fixed order; none when they are the same.
func (s Settings) Differences(was Settings) []string {
	var out []string
	add := func(name, old, cur string) {
		if old != cur {
			out = append(out, fmt.Sprintf("%s %s → %s", name, old, cur))
		}
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	list := func(v []string) string {
		v = slices.Clone(v)
		slices.Sort(v)
		return fmt.Sprintf("%q", v)
	}
	add("model", strconv.Quote(was.Model), strconv.Quote(s.Model))
	add("endpoints", list(was.Endpoints), list(s.Endpoints))
	add("tau_av", num(was.TauAV), num(s.TauAV))
	add("tau_audio", num(was.TauAudio), num(s.TauAudio))
	add("analysis_trials", strconv.Itoa(was.AnalysisTrials), strconv.Itoa(s.AnalysisTrials))
	add("model_size", strconv.Itoa(was.ModelSize), strconv.Itoa(s.ModelSize))
	add("max_sources", strconv.Itoa(was.MaxSources), strconv.Itoa(s.MaxSources))
	add("temperature", num(was.Temperature), num(s.Temperature))
	add("top_p", num(was.TopP), num(s.TopP))
	add("schedule", strconv.Quote(was.Schedule), strconv.Quote(s.Schedule))
	add("supports_n", strconv.FormatBool(was.SupportsN), strconv.FormatBool(s.SupportsN))
	add("structured_output", strconv.FormatBool(was.StructuredOutput), strconv.FormatBool(s.StructuredOutput))
	add("inputs", strconv.Quote(was.Inputs), strconv.Quote(s.Inputs))
	return out
}
