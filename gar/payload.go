package gar

import (
	_ "embed"
	"encoding/json"
	"math"
	"time"
)

// DetectionSchemaName is the "schema" member of every detection payload v1.
const DetectionSchemaName = "garssl.detection/v1"

// DetectionSchema is the JSON Schema (draft 2020-12) of detection payload v1.
//
//go:embed detection.v1.schema.json
var DetectionSchema []byte

// EventSchema is the JSON Schema of the track events (garssl.event/v1) on
// <stream>/events; TracksSchema that of the retained track list
// (garssl.tracks/v1) on <stream>/tracks, which refers to EventSchema's
// track as event.v1.schema.json. The track package builds both payloads;
// the schemas live beside the detection's, as the topic table's do.
//
//go:embed event.v1.schema.json
var EventSchema []byte

//go:embed tracks.v1.schema.json
var TracksSchema []byte

// Status says how a window was handled. It is never omitted.
type Status string

// Window outcomes published in the payload.
const (
	StatusOK                 Status = "ok"
	StatusSilent             Status = "silent"
	StatusMLLMUnavailable    Status = "mllm_unavailable"
	StatusInvalidModelOutput Status = "invalid_model_output"
)

// MinRMSDBFS is published in place of a non-finite RMS level (digital
// silence is −Inf dBFS, which JSON cannot carry).
const MinRMSDBFS = -200.0

// Detection is detection payload v1 (design §5), published per window.
type Detection struct {
	Schema    string         `json:"schema"`
	Node      string         `json:"node"`
	RunID     string         `json:"run_id"`
	Stream    string         `json:"stream"`
	Seq       uint64         `json:"seq"`
	Status    Status         `json:"status"`
	Window    WindowInfo     `json:"window"`
	Frame     FrameInfo      `json:"frame"`
	Audio     AudioInfo      `json:"audio"`
	Sources   []SourceResult `json:"sources"`
	GAR       GARInfo        `json:"gar"`
	LatencyMS LatencyMS      `json:"latency_ms"`

	// Error says why status is not ok; absent when it is.
	Error string `json:"error,omitempty"`
	// Failures lists the model requests that failed and the answers that
	// could not be used, whatever the status; absent when there were none.
	Failures []StageFailure `json:"failures,omitempty"`

	// Debug members, present only when enabled.
	Raw    *RawOutputs `json:"raw,omitempty"`
	Tokens *TokenUsage `json:"tokens,omitempty"`
}

// WindowInfo locates the window in wall-clock and presentation time.
// Start and End marshal as RFC 3339 with nanoseconds.
type WindowInfo struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	PTSStartS float64   `json:"pts_start_s"`
	PTSEndS   float64   `json:"pts_end_s"`
	FramePTSS float64   `json:"frame_pts_s"`
}

// FrameInfo gives the original frame size and the model input size.
type FrameInfo struct {
	Width       int `json:"width"`
	Height      int `json:"height"`
	ModelWidth  int `json:"model_width"`
	ModelHeight int `json:"model_height"`
}

// AudioInfo describes the window's audio. Label and Confidence are empty
// when the model was not asked (silent or unavailable).
type AudioInfo struct {
	Label      string  `json:"label"`
	Confidence float64 `json:"confidence"`
	RMSDBFS    float64 `json:"rms_dbfs"`
	// DoA is the direction of arrival from the stream's microphone array:
	// absent without one (and for silent windows), null when the map is
	// flat.
	DoA *DoAInfo `json:"doa,omitempty"`
}

// SourceResult is one localised sound source. Boxes: BBox in original frame
// pixels, BBoxNorm relative to the model image, BBoxModel and
// InitialBBoxModel in model pixels.
type SourceResult struct {
	BBox               Box         `json:"bbox"`
	BBoxNorm           [4]float64  `json:"bbox_norm"`
	BBoxModel          Box         `json:"bbox_model"`
	InitialBBoxModel   Box         `json:"initial_bbox_model"`
	Label              string      `json:"label"`
	LabelConfidence    float64     `json:"label_confidence"`
	Description        string      `json:"description"`
	RefinedDescription string      `json:"refined_description"`
	AVConsistency      float64     `json:"av_consistency"`
	Keep               bool        `json:"keep"`
	Refined            bool        `json:"refined"`
	Changed            bool        `json:"changed"`
	Ops                *OpsPayload `json:"ops"`
	RoleTags           []string    `json:"role_tags"`
	Anchors            []Anchor    `json:"anchors"`
	// BearingDeg is set only when the camera's horizontal field of view is
	// configured.
	BearingDeg *float64 `json:"bearing_deg,omitempty"`
	// DoAAgreementDeg is the angle between BearingDeg and the direction of
	// arrival matched to this source, in [0, 180]; set only with a camera
	// and a direction.
	DoAAgreementDeg *float64 `json:"doa_agreement_deg,omitempty"`
	// TrackID is the id of the confirmed track (package track) this source
	// belongs to; empty (omitted) while its track is tentative, when it has
	// none, or when tracking is off.
	TrackID string `json:"track_id,omitempty"`

	// Debug members, present only when enabled.
	Gate *GateInfo        `json:"gate,omitempty"`
	Raw  *SourceRawOutput `json:"raw,omitempty"`
}

// OpsPayload is the op the refinement answer proposed, as published.
type OpsPayload struct {
	Type   string      `json:"type"`
	DX     float64     `json:"dx,omitempty"`
	DY     float64     `json:"dy,omitempty"`
	DL     float64     `json:"dl,omitempty"`
	DT     float64     `json:"dt,omitempty"`
	DR     float64     `json:"dr,omitempty"`
	DB     float64     `json:"db,omitempty"`
	Amount float64     `json:"amount,omitempty"`
	Target *[2]float64 `json:"target,omitempty"`
}

// OpsPayloadFrom returns the published form of op, or nil when op is nil or
// of a type ApplyOp does not know.
func OpsPayloadFrom(op *Op) *OpsPayload {
	if op == nil || !op.Known() {
		return nil
	}
	p := &OpsPayload{Type: op.Type}
	switch op.Type {
	case OpDelta:
		p.DX, p.DY, p.DL, p.DT, p.DR, p.DB = op.DX, op.DY, op.DL, op.DT, op.DR, op.DB
	case OpExpand, OpShrink:
		p.Amount = math.Abs(op.Amount)
	case OpRecenter:
		target := op.Target
		p.Target = &target
	}
	return p
}

// StageFailure is one failed model request, or one answer that could not be
// used, of a window.
type StageFailure struct {
	Stage string `json:"stage"`
	// Source is the source index in multi-source mode.
	Source *int `json:"source,omitempty"`
	// Trial is the analysis trial, when trials went out as separate
	// requests.
	Trial *int   `json:"trial,omitempty"`
	Error string `json:"error"`
}

// GateInfo is the gate decision of one source (debug).
type GateInfo struct {
	SkipRefine bool   `json:"skip_refine"`
	Reason     string `json:"reason"`
}

// GARInfo records how the loop ran for the window.
type GARInfo struct {
	AnalysisTrials int     `json:"analysis_trials"`
	ValidTrials    int     `json:"valid_trials"`
	Requests       int     `json:"requests"`
	TauAV          float64 `json:"tau_av"`
	TauAudio       float64 `json:"tau_audio"`
	Model          string  `json:"model"`
	// DoAHint: a confident direction of arrival disagreed with the
	// generated box, and the locate stage ran again with it as a hint.
	DoAHint bool `json:"doa_hint,omitempty"`
}

// LatencyMS holds stage latencies in milliseconds; a stage that did not run
// is 0.
type LatencyMS struct {
	Locate       int64 `json:"locate"`
	Audio        int64 `json:"audio"`
	Analysis     int64 `json:"analysis"`
	Refine       int64 `json:"refine"`
	Total        int64 `json:"total"`
	AgeAtPublish int64 `json:"age_at_publish"`
}

// RawOutputs are the window-level model answers verbatim (debug).
type RawOutputs struct {
	Locate string `json:"locate,omitempty"`
	Audio  string `json:"audio,omitempty"`
}

// SourceRawOutput are a source's analysis and refinement answers verbatim
// (debug).
type SourceRawOutput struct {
	Analysis []string `json:"analysis,omitempty"`
	Refine   string   `json:"refine,omitempty"`
}

// TokenUsage sums the model's usage counts over the window's requests
// (debug).
type TokenUsage struct {
	Prompt     int `json:"prompt"`
	Completion int `json:"completion"`
	// Cached is the prompt tokens served from the server's prefix cache;
	// nil (omitted) when the server did not report it for every answer
	// (vLLM without --enable-prompt-tokens-details), never 0 for unknown.
	Cached *int `json:"cached,omitempty"`
}

// MarshalJSON fills an empty Schema with DetectionSchemaName, publishes nil
// lists as [] and a NaN or −Inf RMS level as MinRMSDBFS, so that a payload
// built from partial results still marshals and matches DetectionSchema.
func (d Detection) MarshalJSON() ([]byte, error) {
	type plain Detection // drops this method, avoiding recursion
	p := plain(d)
	if p.Schema == "" {
		p.Schema = DetectionSchemaName
	}
	if p.Sources == nil {
		p.Sources = []SourceResult{}
	}
	switch rms := p.Audio.RMSDBFS; {
	case math.IsNaN(rms) || rms < MinRMSDBFS:
		p.Audio.RMSDBFS = MinRMSDBFS
	case math.IsInf(rms, 1):
		p.Audio.RMSDBFS = 0
	}
	return json.Marshal(p)
}

// MarshalJSON publishes nil tag and anchor lists as [].
func (s SourceResult) MarshalJSON() ([]byte, error) {
	type plain SourceResult
	p := plain(s)
	if p.RoleTags == nil {
		p.RoleTags = []string{}
	}
	if p.Anchors == nil {
		p.Anchors = []Anchor{}
	}
	return json.Marshal(p)
}
