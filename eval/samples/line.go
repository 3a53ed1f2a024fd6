package samples

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/garssl/garssld/gar"
)

// StatusInputError is the status of a sample whose files were missing or
// could not be decoded: the model was never asked. It extends the statuses
// of payload v1 for sample lines only.
const StatusInputError gar.Status = "input_error"

// Failure reasons, as counted in the report.
const (
	ReasonMissingInput = "missing_input" // a file the layout names does not exist
	ReasonBadInput     = "bad_input"     // a file could not be decoded, or holds too little
)

// Failure says why a sample gave no box.
type Failure struct {
	// Reason is ReasonMissingInput, ReasonBadInput, or the window status
	// (mllm_unavailable, invalid_model_output, …).
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// Scores are a sample's per-source (or per-sample) cIoU and pixel AP under
// one protocol: one entry per sample under gar (duet boxes merged), one
// per ground-truth source for duets under standard.
type Scores struct {
	CIoU []float64 `json:"ciou"`
	AP   []float64 `json:"ap"`
}

// Metrics are a sample's scores under both protocols.
type Metrics struct {
	GAR      Scores `json:"gar"`
	Standard Scores `json:"standard"`
}

// Line is one line of samples.jsonl.
type Line struct {
	Sample    string
	Detection gar.Detection
	Failure   *Failure
	Metrics   Metrics
	// Settings made the line; nil leaves the member out.
	Settings *Settings
}

// MarshalJSON writes {"sample":…, <payload v1 members>, "failure":…,
// "metrics":…, "settings":…} on one line.
func (l Line) MarshalJSON() ([]byte, error) {
	det, err := json.Marshal(l.Detection)
	if err != nil {
		return nil, fmt.Errorf("sample %q: %w", l.Sample, err)
	}
	if len(det) < 2 || det[0] != '{' || det[len(det)-1] != '}' {
		return nil, fmt.Errorf("sample %q: detection did not marshal to an object", l.Sample)
	}
	id, _ := json.Marshal(l.Sample)
	metrics, err := json.Marshal(l.Metrics)
	if err != nil {
		return nil, fmt.Errorf("sample %q metrics: %w", l.Sample, err)
	}
	var b bytes.Buffer
	b.Grow(len(det) + len(id) + len(metrics) + 64)
	b.WriteString(`{"sample":`)
	b.Write(id)
	b.WriteByte(',')
	b.Write(det[1 : len(det)-1])
	if l.Failure != nil {
		f, _ := json.Marshal(l.Failure)
		b.WriteString(`,"failure":`)
		b.Write(f)
	}
	b.WriteString(`,"metrics":`)
	b.Write(metrics)
	if l.Settings != nil {
		set, err := json.Marshal(l.Settings)
		if err != nil {
			return nil, fmt.Errorf("sample %q settings: %w", l.Sample, err)
		}
		b.WriteString(`,"settings":`)
		b.Write(set)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// PredictionOf returns what Read gives for l's line, without the JSON round
// trip: eval scores its own lines through it.
func PredictionOf(l Line) Prediction {
	d := &l.Detection
	p := Prediction{Sample: l.Sample, Status: string(d.Status), Failure: l.Failure, Settings: l.Settings}
	p.Frame.Width, p.Frame.Height = d.Frame.Width, d.Frame.Height
	p.Frame.ModelWidth, p.Frame.ModelHeight = d.Frame.ModelWidth, d.Frame.ModelHeight
	p.Audio.Label = d.Audio.Label
	p.Sources = make([]PredictedSource, 0, len(d.Sources))
	for _, s := range d.Sources {
		p.Sources = append(p.Sources, PredictedSource{
			BBox: s.BBox.Float(), BBoxNorm: s.BBoxNorm, BBoxModel: s.BBoxModel.Float(), Label: s.Label, Refined: s.Refined,
		})
	}
	p.GAR.Requests = d.GAR.Requests
	if d.Tokens != nil {
		p.Tokens = &struct {
			Prompt     int `json:"prompt"`
			Completion int `json:"completion"`
		}{d.Tokens.Prompt, d.Tokens.Completion}
	}
	p.LatencyMS.Total = d.LatencyMS.Total
	return p
}
