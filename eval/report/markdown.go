package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/garssl/garssld/eval/dataset"
)

// PaperNumbers are the paper's Tables 1 and 2 for Qwen2.5-Omni-7B with
// N = 5, in percent: AP, IoU@0.5 and AUC for single sources; CAP,
// CIoU@0.3 and AUC for duets.
var PaperNumbers = map[dataset.Kind][3]float64{
	dataset.VGGSS:     {60.5, 60.2, 55.2},
	dataset.MUSICSolo: {80.6, 98.5, 78.2},
	dataset.VGGSSDuet: {47.2, 77.6, 45.8},
	dataset.MUSICDuet: {56.7, 82.7, 53.2},
}

// Setting is one line of the run's configuration in report.md.
type Setting struct{ Name, Value string }

// WriteMarkdown writes report.md: the paper's table with this run beside
// it, every metric, the gate and cost statistics, and the run's settings.
func WriteMarkdown(w io.Writer, r Report, run []Setting) error {
	kind := dataset.Kind(r.Dataset)
	var b strings.Builder
	fmt.Fprintf(&b, "# garssld eval: %s, protocol %s\n\n", kind.Title(), r.Protocol)

	heads := [3]string{"AP", "IoU@0.5", "AUC"}
	main := func(ap, cap, at03, at05, auc *float64) [3]*float64 { return [3]*float64{ap, at05, auc} }
	if kind.Duet() {
		heads = [3]string{"CAP", "CIoU@0.3", "AUC"}
		main = func(ap, cap, at03, at05, auc *float64) [3]*float64 { return [3]*float64{cap, at03, auc} }
	}
	fmt.Fprintf(&b, "| | %s | %s | %s |\n|---|---:|---:|---:|\n", heads[0], heads[1], heads[2])
	if p, ok := PaperNumbers[kind]; ok {
		fmt.Fprintf(&b, "| GAR paper (Qwen2.5-Omni-7B, N = 5) | %.1f | %.1f | %.1f |\n", p[0], p[1], p[2])
	}
	row := func(name string, v [3]*float64) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, pct(v[0]), pct(v[1]), pct(v[2]))
	}
	row("this run (failed samples count as misses)", main(r.AP, r.CAP, &r.CIoUAt03, &r.CIoUAt05, &r.AUC))
	row("this run, successful samples only", main(r.APSuccessfulOnly, r.CAPSuccessfulOnly, r.CIoUAt03SuccessfulOnly, r.CIoUAt05SuccessfulOnly, r.AUCSuccessfulOnly))
	b.WriteString("\nValues in percent. The paper's numbers come from the authors' script, which protocol gar reproduces; " +
		"the authors dropped failed samples, so compare them with both rows. Numbers measured against omnisim test the plumbing, not the model.\n\n")

	fmt.Fprintf(&b, "Samples: %d scored of %d annotated; %d failed", r.NSamples, r.NAnnotated, r.NFailed)
	if len(r.FailedByReason) > 0 {
		reasons := make([]string, 0, len(r.FailedByReason))
		for k, n := range r.FailedByReason {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(reasons)
		fmt.Fprintf(&b, " (%s)", strings.Join(reasons, ", "))
	}
	fmt.Fprintf(&b, ". Scored units: %d; cIoU undefined (both masks empty, counted as 0): %d.\n\n", r.NScored, r.CIoUUndefined)

	b.WriteString("## All metrics (%)\n\n| metric | all samples | successful only |\n|---|---:|---:|\n")
	for _, m := range []struct {
		name     string
		all, sOK *float64
	}{
		{"ciou_mean", &r.CIoUMean, r.CIoUMeanSuccessfulOnly},
		{"ciou_at_0_3", &r.CIoUAt03, r.CIoUAt03SuccessfulOnly},
		{"ciou_at_0_5", &r.CIoUAt05, r.CIoUAt05SuccessfulOnly},
		{"auc", &r.AUC, r.AUCSuccessfulOnly},
		{"ap", r.AP, r.APSuccessfulOnly},
		{"cap", r.CAP, r.CAPSuccessfulOnly},
		{"piap", r.PIAP, r.PIAPSuccessfulOnly},
	} {
		if m.all != nil {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", m.name, pct(m.all), pct(m.sOK))
		}
	}

	b.WriteString("\n## Gate and cost\n\n| | |\n|---|---|\n")
	for k := range r.RefineRun {
		fmt.Fprintf(&b, "| source %d: refinement run / skipped | %d / %d |\n", k+1, r.RefineRun[k], r.RefineSkipped[k])
	}
	fmt.Fprintf(&b, "| model requests per sample | %.2f |\n", r.RequestsMean)
	fmt.Fprintf(&b, "| prompt / completion tokens per sample | %.0f / %.0f |\n", r.PromptTokensMean, r.CompletionTokensMean)
	fmt.Fprintf(&b, "| latency per sample p50 / p95 | %.0f / %.0f ms |\n", r.LatencyMSP50, r.LatencyMSP95)

	if len(run) > 0 {
		b.WriteString("\n## Run\n\n| | |\n|---|---|\n")
		for _, s := range run {
			fmt.Fprintf(&b, "| %s | %s |\n", s.Name, strings.ReplaceAll(s.Value, "|", `\|`))
		}
	}
	b.WriteString("\n![success curve: fraction of samples with cIoU ≥ t](success_curve.png)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f", 100**v)
}
