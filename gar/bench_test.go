package gar

import (
	"fmt"
	"testing"
)

// A realistic analysis answer: header, fence and a full object.
const benchAnalysisAnswer = "assistant\n```json\n" +
	`{"av_consistency": 0.78, "role_tags": ["bow hand", "violin-body", "chin_rest"], ` +
	`"anchor_votes": [{"anchor": "bow_on_strings", "score": 0.9}, {"anchor": "Violin Body", "score": "0.7"}, {"anchor": "left_hand_fingering", "score": 0.6}], ` +
	`"keep": "true"}` + "\n```"

func BenchmarkParseAnalysis(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAnalysis(benchAnalysisAnswer); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRefine(b *testing.B) {
	text := "Here is the refined box:\n" +
		`{"bbox": [48, 58, 152, 163], "changed": true, "ops": {"type": "delta", "dx": -2, "dy": -2, "dl": 0, "dt": 0, "dr": 4, "db": 5}, ` +
		`"refined_description": "A violinist plays on a stage. The bow crosses the strings near the bridge."}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRefine(text, 224, 224); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsensus(b *testing.B) {
	trials := make([]AnalysisAnswer, 5)
	for i := range trials {
		trials[i] = AnalysisAnswer{
			AVConsistency: 0.5 + 0.1*float64(i), HasAVConsistency: true, Keep: i%2 == 0, HasKeep: true,
			RoleTags: []string{"bow hand", "violin-body", fmt.Sprintf("tag %d", i), "chin_rest"},
			AnchorVotes: []AnchorVote{
				{Anchor: "bow_on_strings", Score: 0.9, HasScore: true},
				{Anchor: "Violin Body", Score: 0.7, HasScore: true},
				{Anchor: fmt.Sprintf("anchor-%d", i), Score: 0.4, HasScore: true},
			},
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Consensus(trials)
	}
}
