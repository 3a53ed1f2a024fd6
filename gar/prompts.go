package gar

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// SystemPrompt is sent, byte for byte, as the system message of every
// stage so that the server's prefix cache can share it (design §4). Stage
// instructions go in the user text, after the media.
const SystemPrompt = "You are the perception module of a system that finds where sounds come from. " +
	"Each request brings media recorded at one moment (a still image, an audio clip, or both), followed by a stage instruction. " +
	"Base every judgement on that media alone and never invent objects or sounds that are not there. " +
	"Answer with exactly one JSON object in the shape the instruction asks for, with no markdown and no text before or after it."

//go:embed prompts/*.tmpl
var promptFiles embed.FS

// prompts holds the stage templates, parsed once; a template that does not
// parse is a programming error and stops the program at start-up.
var prompts = template.Must(template.New("prompts").
	Funcs(template.FuncMap{
		"add":     func(a, b int) int { return a + b },
		"last":    func(n int) int { return max(n, 1) - 1 },
		"box":     formatBox,
		"score":   formatScore,
		"json":    quoteJSON,
		"strings": formatStrings,
		"anchors": formatAnchors,
	}).
	Option("missingkey=error").
	ParseFS(promptFiles, "prompts/*.tmpl"))

// LocateData fills locate.tmpl.
type LocateData struct {
	Width, Height int
	// Hint names the region of the picture a confident direction of
	// arrival points at ("the left third"); empty leaves the hint line out.
	Hint string
}

// LocateMultiData fills locate_multi.tmpl.
type LocateMultiData struct {
	Width, Height int
	Sources       int
	// Hint names the regions the sounds come from, as LocateData.Hint.
	Hint string
}

// AudioMultiData fills audio_multi.tmpl.
type AudioMultiData struct {
	Sources int
}

// SourceContext tells the analysis and refinement stages which source of a
// multi-source window they work on and where the others are.
type SourceContext struct {
	Index  int // 0-based
	Total  int
	Others []OtherSource
}

// OtherSource is another source of the same window, shown for context.
type OtherSource struct {
	Index      int // 0-based
	AudioClass string
	Box        Box
}

// AnalysisData fills analysis.tmpl.
type AnalysisData struct {
	Width, Height   int
	PreviousBox     Box
	AudioClass      string
	AudioConfidence float64
	// Source is nil in single-source mode.
	Source *SourceContext
}

// RefineData fills refine.tmpl. MAX_DELTA_PX is derived from the image
// size, so the prompt and the clamp cannot disagree.
type RefineData struct {
	Width, Height int
	PreviousBox   Box
	AudioClass    string
	Consensus     ConsensusResult
	// Source is nil in single-source mode.
	Source *SourceContext
}

type refineView struct {
	RefineData
	MaxDeltaPx int
}

// RenderLocate returns the user text of the locate stage.
func RenderLocate(d LocateData) string { return render("locate.tmpl", d) }

// RenderLocateMulti returns the user text of the multi-source locate stage.
func RenderLocateMulti(d LocateMultiData) string { return render("locate_multi.tmpl", d) }

// RenderAudio returns the user text of the audio stage.
func RenderAudio() string { return render("audio.tmpl", nil) }

// RenderAudioMulti returns the user text of the multi-source audio stage.
func RenderAudioMulti(d AudioMultiData) string { return render("audio_multi.tmpl", d) }

// RenderAnalysis returns the user text of one analysis trial.
func RenderAnalysis(d AnalysisData) string { return render("analysis.tmpl", d) }

// RenderRefine returns the user text of the refinement stage.
func RenderRefine(d RefineData) string {
	return render("refine.tmpl", refineView{RefineData: d, MaxDeltaPx: MaxDeltaPx(d.Width, d.Height)})
}

// render executes a stage template. The data types are fixed and every
// template function is total, so execution can only fail through a broken
// template, which the golden tests catch; hence the panic.
func render(name string, data any) string {
	var b bytes.Buffer
	if err := prompts.ExecuteTemplate(&b, name, data); err != nil {
		panic(fmt.Sprintf("gar: prompt template %s: %v", name, err))
	}
	return strings.TrimSpace(b.String())
}

func formatBox(b Box) string {
	return fmt.Sprintf("[%d, %d, %d, %d]", b[0], b[1], b[2], b[3])
}

func formatScore(f float64) string { return fmt.Sprintf("%.2f", f) }

// quoteJSON renders model-produced text as a JSON string so that it cannot
// break out of its line in the prompt.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return `""`
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// formatStrings writes a list of model-produced names as a JSON array.
func formatStrings(list []string) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = quoteJSON(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// formatAnchors writes anchors like the anchor_votes the model produced,
// with two-decimal scores; it does not use encoding/json so that a
// non-finite score cannot fail the rendering.
func formatAnchors(anchors []Anchor) string {
	parts := make([]string, len(anchors))
	for i, a := range anchors {
		parts[i] = fmt.Sprintf(`{"anchor": %s, "score": %s}`, quoteJSON(a.Anchor), formatScore(a.Score))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
