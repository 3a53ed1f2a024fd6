package gar

import (
	"time"

	"github.com/garssl/garssld/internal/redact"
)

// WindowMeta is what the payload says about a window besides the GAR result.
type WindowMeta struct {
	Node, RunID, Stream string
	Seq                 uint64
	// Start and End are wall-clock; zero when unknown (a still image).
	Start, End                 time.Time
	PTSStart, PTSEnd, FramePTS time.Duration
	FrameWidth, FrameHeight    int
	ModelWidth, ModelHeight    int
	RMSDBFS                    float64
}

// NewDetection renders a window and its GAR result as payload v1. A window
// that never reached the model (a silent one) passes a Result holding only
// its Status.
func NewDetection(m WindowMeta, r Result) Detection {
	d := Detection{
		Schema: DetectionSchemaName, Node: m.Node, RunID: m.RunID, Stream: m.Stream, Seq: m.Seq,
		Status:  r.Status,
		Window:  WindowInfo{Start: m.Start, End: m.End, PTSStartS: m.PTSStart.Seconds(), PTSEndS: m.PTSEnd.Seconds(), FramePTSS: m.FramePTS.Seconds()},
		Frame:   FrameInfo{Width: m.FrameWidth, Height: m.FrameHeight, ModelWidth: m.ModelWidth, ModelHeight: m.ModelHeight},
		Audio:   AudioInfo{Label: r.Audio.Label, Confidence: r.Audio.Confidence, RMSDBFS: m.RMSDBFS, DoA: r.Audio.DoA},
		Sources: r.Sources, GAR: r.GAR, LatencyMS: r.Latency, Raw: r.Raw,
		Failures: r.Failures,
	}
	if r.Err != nil && r.Status != StatusOK {
		d.Error = redact.Text(r.Err.Error())
	}
	if r.Tokens.Prompt != 0 || r.Tokens.Completion != 0 || r.Tokens.Cached != nil {
		t := r.Tokens
		d.Tokens = &t
	}
	if d.Sources == nil {
		d.Sources = []SourceResult{}
	}
	return d
}
