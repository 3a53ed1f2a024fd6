package gar

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func baseDetection(status Status) Detection {
	start := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return Detection{
		Node: "robot-7", RunID: "01JD5Z8Q3K9V", Stream: "front", Seq: 42, Status: status,
		Window: WindowInfo{Start: start, End: start.Add(3 * time.Second), PTSStartS: 126, PTSEndS: 129, FramePTSS: 127.5},
		Frame:  FrameInfo{Width: 1280, Height: 720, ModelWidth: 224, ModelHeight: 224},
		Audio:  AudioInfo{RMSDBFS: -23.5},
		GAR:    GARInfo{AnalysisTrials: 5, TauAV: 0.5, TauAudio: 0.75, Model: "Qwen/Qwen2.5-Omni-7B"},
	}
}

func okSource(initial, final Box, label string) SourceResult {
	bearing := BearingDeg(CentreXNorm(final, 224), 87)
	return SourceResult{
		BBox: ToFrame(final, 224, 224, 1280, 720), BBoxNorm: ToNorm(final, 224, 224),
		BBoxModel: final, InitialBBoxModel: initial,
		Label: label, LabelConfidence: 0.91, Description: "a brown dog", RefinedDescription: "A dog barks at the door.",
		AVConsistency: 0.82, Keep: false, Refined: true, Changed: final != initial,
		Ops:      OpsPayloadFrom(&Op{Type: OpExpand, Amount: -4}),
		RoleTags: []string{"dog_head"}, Anchors: []Anchor{{Anchor: "dog_mouth_open", Score: 0.9}},
		BearingDeg: &bearing,
		Gate:       &GateInfo{SkipRefine: false, Reason: "keep=false"},
		Raw:        &SourceRawOutput{Analysis: []string{`{"keep":false}`}, Refine: `{"changed":true}`},
	}
}

// editor returns a function that decodes the payload base, lets f change
// it and encodes it again: one broken payload per schema case.
func editor(t *testing.T, base string) func(f func(m map[string]any)) string {
	return func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(base), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		return marshal(t, m)
	}
}

// source is the first source of a decoded payload.
func source(m map[string]any) map[string]any { return m["sources"].([]any)[0].(map[string]any) }

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDetectionPayloadsValidate(t *testing.T) {
	sch := compileSchema(t, "detection.v1", DetectionSchema)

	ok1 := baseDetection(StatusOK)
	ok1.Audio.Label, ok1.Audio.Confidence = "dog barking", 0.91
	ok1.GAR.ValidTrials, ok1.GAR.Requests = 5, 4
	ok1.LatencyMS = LatencyMS{Locate: 410, Audio: 380, Analysis: 900, Refine: 450, Total: 1790, AgeAtPublish: 4850}
	ok1.Sources = []SourceResult{okSource(Box{50, 60, 150, 160}, Box{46, 56, 154, 164}, "dog barking")}
	ok1.Sources[0].TrackID = "01JD5Z9F6ZQ8Y7W3N4V2T1S0RA"
	ok1.Tokens = &TokenUsage{Prompt: 2300, Completion: 410, Cached: new(1500)}
	ok1.Raw = &RawOutputs{Locate: `{"bbox":[50,60,150,160]}`, Audio: `{"audio_class":"dog barking"}`}

	ok2 := baseDetection(StatusOK)
	skipped := okSource(Box{120, 30, 200, 210}, Box{120, 30, 200, 210}, "piano")
	skipped.Refined, skipped.Ops, skipped.BearingDeg, skipped.Gate, skipped.Raw = false, nil, nil, nil, nil
	skipped.RoleTags, skipped.Anchors = nil, nil // published as []
	ok2.Sources = []SourceResult{okSource(Box{10, 20, 100, 120}, Box{12, 20, 100, 118}, "violin"), skipped}
	ok2.Tokens = &TokenUsage{Prompt: 2300, Completion: 410} // the server did not report cached tokens

	silent := baseDetection(StatusSilent)
	silent.Audio.RMSDBFS = math.Inf(-1) // digital silence

	unavailable := baseDetection(StatusMLLMUnavailable)
	unavailable.Schema = DetectionSchemaName

	for name, d := range map[string]Detection{"ok K=1": ok1, "ok K=2": ok2, "silent": silent, "mllm_unavailable": unavailable} {
		t.Run(name, func(t *testing.T) {
			text := marshal(t, d)
			if err := validate(t, sch, text); err != nil {
				t.Errorf("payload rejected: %v\n%s", err, text)
			}
		})
	}
	if text := marshal(t, silent); !strings.Contains(text, `"sources":[]`) || !strings.Contains(text, `"rms_dbfs":-200`) {
		t.Errorf("silent payload: %s", text)
	}
	if text := marshal(t, ok2); !strings.Contains(text, `"tokens":{"prompt":2300,"completion":410}`) {
		t.Errorf("unknown cached tokens must be omitted, not 0: %s", text)
	}
	if text := marshal(t, ok2); !strings.Contains(text, `"role_tags":[]`) || !strings.Contains(text, `"ops":null`) || strings.Count(text, "bearing_deg") != 1 {
		t.Errorf("K=2 payload: %s", text)
	}
}

func TestDetectionSchemaRejects(t *testing.T) {
	sch := compileSchema(t, "detection.v1", DetectionSchema)
	good := baseDetection(StatusOK)
	good.Sources = []SourceResult{okSource(Box{50, 60, 150, 160}, Box{46, 56, 154, 164}, "dog barking")}
	base := marshal(t, good)
	if err := validate(t, sch, base); err != nil {
		t.Fatalf("base payload rejected: %v", err)
	}
	edit := editor(t, base)
	tests := map[string]string{
		"missing status":         edit(func(m map[string]any) { delete(m, "status") }),
		"unknown status":         edit(func(m map[string]any) { m["status"] = "fine" }),
		"bbox with 3 numbers":    edit(func(m map[string]any) { source(m)["bbox"] = []int{1, 2, 3} }),
		"negative bbox":          edit(func(m map[string]any) { source(m)["bbox_model"] = []int{-1, 2, 3, 4} }),
		"bbox_norm above 1":      edit(func(m map[string]any) { source(m)["bbox_norm"] = []float64{0, 0, 1.2, 1} }),
		"wrong schema":           edit(func(m map[string]any) { m["schema"] = "garssl.detection/v2" }),
		"ok without sources":     edit(func(m map[string]any) { m["sources"] = []any{} }),
		"silent with sources":    edit(func(m map[string]any) { m["status"] = "silent" }),
		"unknown member":         edit(func(m map[string]any) { m["extra"] = 1 }),
		"bad start time":         edit(func(m map[string]any) { m["window"].(map[string]any)["start"] = "yesterday" }),
		"unknown op type":        edit(func(m map[string]any) { source(m)["ops"] = map[string]any{"type": "rotate"} }),
		"missing latency member": edit(func(m map[string]any) { delete(m["latency_ms"].(map[string]any), "total") }),
		"empty track_id":         edit(func(m map[string]any) { source(m)["track_id"] = "" }),
		"numeric track_id":       edit(func(m map[string]any) { source(m)["track_id"] = 7 }),
	}
	for name, text := range tests {
		if err := validate(t, sch, text); err == nil {
			t.Errorf("%s: payload accepted:\n%s", name, text)
		}
	}
}

// TestDetectionMemberNames pins the wire names to design §5, written out
// here independently of the struct tags.
func TestDetectionMemberNames(t *testing.T) {
	d := baseDetection(StatusOK)
	d.Sources = []SourceResult{okSource(Box{50, 60, 150, 160}, Box{46, 56, 154, 164}, "dog barking")}
	d.Sources[0].Gate, d.Sources[0].Raw = nil, nil
	var m map[string]any
	if err := json.Unmarshal([]byte(marshal(t, d)), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":           {"schema", "node", "run_id", "stream", "seq", "status", "window", "frame", "audio", "sources", "gar", "latency_ms"},
		"window":     {"start", "end", "pts_start_s", "pts_end_s", "frame_pts_s"},
		"frame":      {"width", "height", "model_width", "model_height"},
		"audio":      {"label", "confidence", "rms_dbfs"},
		"gar":        {"analysis_trials", "valid_trials", "requests", "tau_av", "tau_audio", "model"},
		"latency_ms": {"locate", "audio", "analysis", "refine", "total", "age_at_publish"},
		"sources[0]": {"bbox", "bbox_norm", "bbox_model", "initial_bbox_model", "label", "label_confidence", "description", "refined_description",
			"av_consistency", "keep", "refined", "changed", "ops", "role_tags", "anchors", "bearing_deg"},
		"anchors[0]": {"anchor", "score"},
	}
	objects := map[string]map[string]any{
		"": m, "window": m["window"].(map[string]any), "frame": m["frame"].(map[string]any), "audio": m["audio"].(map[string]any),
		"gar": m["gar"].(map[string]any), "latency_ms": m["latency_ms"].(map[string]any),
		"sources[0]": m["sources"].([]any)[0].(map[string]any),
	}
	objects["anchors[0]"] = objects["sources[0]"]["anchors"].([]any)[0].(map[string]any)
	for path, keys := range want {
		var got []string
		for k := range objects[path] {
			got = append(got, k)
		}
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("%s members = %v, want %v", path, got, keys)
		}
	}
	if m["schema"] != "garssl.detection/v1" {
		t.Errorf("schema = %v", m["schema"])
	}
	if start := m["window"].(map[string]any)["start"]; start != "2025-03-01T12:00:00.123456789Z" {
		t.Errorf("window.start = %v, want RFC 3339 with nanoseconds", start)
	}
}

func TestOpsPayloadFrom(t *testing.T) {
	if OpsPayloadFrom(nil) != nil || OpsPayloadFrom(&Op{Type: "rotate"}) != nil || OpsPayloadFrom(&Op{Type: OpRecenter}) != nil {
		t.Error("unknown or unusable ops must publish as null")
	}
	if got := marshal(t, OpsPayloadFrom(&Op{Type: OpShrink, Amount: -3, DX: 9})); got != `{"type":"shrink","amount":3}` {
		t.Errorf("shrink = %s", got)
	}
	if got := marshal(t, OpsPayloadFrom(&Op{Type: OpRecenter, Target: [2]float64{10, 20}, HasTarget: true})); got != `{"type":"recenter","target":[10,20]}` {
		t.Errorf("recenter = %s", got)
	}
	if got := marshal(t, OpsPayloadFrom(&Op{Type: OpDelta, DX: 1, DB: -2})); got != `{"type":"delta","dx":1,"db":-2}` {
		t.Errorf("delta = %s", got)
	}
}
