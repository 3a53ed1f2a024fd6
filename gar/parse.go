package gar

import (
	"fmt"
	"strings"
)

// Caps on what is kept from an answer. Beyond them the model is rambling;
// the caps bound prompt growth (classes and tags are echoed into later
// prompts) and payload size.
const (
	maxClassRunes       = 64
	maxDescriptionRunes = 512
	maxRefinedRunes     = 2048
	maxTagRunes         = 256
	maxListEntries      = 16
)

// LocateAnswer is a parsed generation (locate) answer.
type LocateAnswer struct {
	BBox        Box
	Description string
	// Normalised is true when the model answered in [0,1] coordinates and
	// the box was scaled to pixels.
	Normalised bool
}

// AudioAnswer is a parsed generation (audio) answer.
type AudioAnswer struct {
	// Class is trimmed and lowercased.
	Class string
	// Confidence is clipped to [0,1]; 0 when HasConfidence is false.
	Confidence    float64
	HasConfidence bool
}

// AnchorVote is one anchor proposed by one analysis trial.
type AnchorVote struct {
	Anchor string
	// Score is clipped to [0,1]; 0 when HasScore is false.
	Score    float64
	HasScore bool
}

// AnalysisAnswer is one parsed analysis trial. Names are kept as written
// (trimmed); Consensus normalises them.
type AnalysisAnswer struct {
	// AVConsistency is clipped to [0,1]; 0 when HasAVConsistency is false,
	// which is how Consensus counts it.
	AVConsistency    float64
	HasAVConsistency bool
	RoleTags         []string
	AnchorVotes      []AnchorVote
	// Keep is false unless the trial gave a readable true; HasKeep tells a
	// readable false from a missing or unreadable flag.
	Keep    bool
	HasKeep bool
}

// RefineAnswer is a parsed refinement answer. Its zero value means "nothing
// usable" and makes DecideRefinedBox keep the initial box.
type RefineAnswer struct {
	// BBox is already clipped (and scaled when Normalised).
	BBox       Box
	HasBBox    bool
	Normalised bool
	Changed    bool
	HasChanged bool
	// Op is the model's "ops" object, nil when it was null, missing or not
	// an object. Its type may be unknown; ApplyOp then ignores it.
	Op                 *Op
	RefinedDescription string
}

// ParseLocate reads a locate answer for a w×h image. It needs a usable bbox:
// four finite numbers whose box shares at least one pixel with the image.
// A box entirely outside the image is invalid, not clipped into a corner.
func ParseLocate(text string, w, h int) (LocateAnswer, error) {
	var ans LocateAnswer
	_, err := findJSON(text, false, func(v any) bool {
		var ok bool
		ans, ok = locateFrom(v, w, h)
		return ok
	})
	if err != nil {
		return LocateAnswer{}, fmt.Errorf("locate answer: %w", err)
	}
	return ans, nil
}

func locateFrom(v any, w, h int) (LocateAnswer, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return LocateAnswer{}, false
	}
	box, normalised, ok := readBox(boxMember(obj), w, h)
	if !ok {
		return LocateAnswer{}, false
	}
	desc, _ := readString(obj["description"], maxDescriptionRunes)
	return LocateAnswer{BBox: box, Description: desc, Normalised: normalised}, true
}

// boxMember returns "bbox", or Qwen's native grounding key "bbox_2d" when
// "bbox" is absent.
func boxMember(obj map[string]any) any {
	if b, ok := obj["bbox"]; ok {
		return b
	}
	return obj["bbox_2d"]
}

// ParseAudio reads an audio answer. It needs a non-empty audio_class; a
// missing or unreadable confidence is 0 (HasConfidence false), which makes
// the gate refine.
func ParseAudio(text string) (AudioAnswer, error) {
	var ans AudioAnswer
	_, err := findJSON(text, false, func(v any) bool {
		var ok bool
		ans, ok = audioFrom(v)
		return ok
	})
	if err != nil {
		return AudioAnswer{}, fmt.Errorf("audio answer: %w", err)
	}
	return ans, nil
}

func audioFrom(v any) (AudioAnswer, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		return AudioAnswer{}, false
	}
	class, _ := readString(obj["audio_class"], maxClassRunes)
	if class == "" {
		return AudioAnswer{}, false
	}
	conf, hasConf := readScore(obj["audio_confidence_score"])
	return AudioAnswer{Class: strings.ToLower(class), Confidence: conf, HasConfidence: hasConf}, true
}

// ParseAnalysis reads one analysis trial. An object counts as a parsed
// trial when it has at least one of av_consistency, role_tags,
// anchor_votes or keep, whatever their values.
func ParseAnalysis(text string) (AnalysisAnswer, error) {
	var ans AnalysisAnswer
	_, err := findJSON(text, false, func(v any) bool {
		var ok bool
		ans, ok = analysisFrom(v)
		return ok
	})
	if err != nil {
		return AnalysisAnswer{}, fmt.Errorf("analysis answer: %w", err)
	}
	return ans, nil
}

func analysisFrom(v any) (AnalysisAnswer, bool) {
	obj, ok := v.(map[string]any)
	if !ok || !hasAny(obj, "av_consistency", "role_tags", "anchor_votes", "keep") {
		return AnalysisAnswer{}, false
	}
	var ans AnalysisAnswer
	ans.AVConsistency, ans.HasAVConsistency = readScore(obj["av_consistency"])
	ans.Keep, ans.HasKeep = readBool(obj["keep"])
	if tags, ok := obj["role_tags"].([]any); ok {
		for _, t := range tags[:min(len(tags), maxListEntries)] {
			if s, ok := readString(t, maxTagRunes); ok && s != "" {
				ans.RoleTags = append(ans.RoleTags, s)
			}
		}
	}
	if votes, ok := obj["anchor_votes"].([]any); ok {
		for _, e := range votes[:min(len(votes), maxListEntries)] {
			if vote, ok := anchorVoteFrom(e); ok {
				ans.AnchorVotes = append(ans.AnchorVotes, vote)
			}
		}
	}
	return ans, true
}

// anchorVoteFrom accepts {"anchor": name, "score": s} and, as a vote with no
// score, a bare name.
func anchorVoteFrom(v any) (AnchorVote, bool) {
	if name, ok := readString(v, maxTagRunes); ok {
		return AnchorVote{Anchor: name}, name != ""
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return AnchorVote{}, false
	}
	name, _ := readString(obj["anchor"], maxTagRunes)
	if name == "" {
		return AnchorVote{}, false
	}
	score, hasScore := readScore(obj["score"])
	return AnchorVote{Anchor: name, Score: score, HasScore: hasScore}, true
}

// ParseRefine reads a refinement answer for a w×h image. An object counts
// when it has at least one of bbox (or bbox_2d), changed, ops or
// refined_description.
func ParseRefine(text string, w, h int) (RefineAnswer, error) {
	var ans RefineAnswer
	_, err := findJSON(text, false, func(v any) bool {
		var ok bool
		ans, ok = refineFrom(v, w, h)
		return ok
	})
	if err != nil {
		return RefineAnswer{}, fmt.Errorf("refine answer: %w", err)
	}
	return ans, nil
}

func refineFrom(v any, w, h int) (RefineAnswer, bool) {
	obj, ok := v.(map[string]any)
	if !ok || !hasAny(obj, "bbox", "bbox_2d", "changed", "ops", "refined_description") {
		return RefineAnswer{}, false
	}
	var ans RefineAnswer
	ans.BBox, ans.Normalised, ans.HasBBox = readBox(boxMember(obj), w, h)
	ans.Changed, ans.HasChanged = readBool(obj["changed"])
	if ops, ok := obj["ops"].(map[string]any); ok {
		op := opFrom(ops)
		ans.Op = &op
	}
	ans.RefinedDescription, _ = readString(obj["refined_description"], maxRefinedRunes)
	return ans, true
}

// opFrom reads an ops object. Unreadable numeric members count as missing,
// that is 0.
func opFrom(obj map[string]any) Op {
	typ, _ := readString(obj["type"], maxClassRunes)
	op := Op{Type: strings.ToLower(typ)}
	op.DX, _ = readNumber(obj["dx"])
	op.DY, _ = readNumber(obj["dy"])
	op.DL, _ = readNumber(obj["dl"])
	op.DT, _ = readNumber(obj["dt"])
	op.DR, _ = readNumber(obj["dr"])
	op.DB, _ = readNumber(obj["db"])
	op.Amount, _ = readNumber(obj["amount"])
	if target, ok := obj["target"].([]any); ok && len(target) == 2 {
		cx, okX := readNumber(target[0])
		cy, okY := readNumber(target[1])
		if okX && okY {
			op.Target, op.HasTarget = [2]float64{cx, cy}, true
		}
	}
	return op
}

func hasAny(obj map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}
