package gar

import (
	"reflect"
	"strings"
	"testing"
)

func TestNormaliseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Dog Head", "dog_head"},
		{"  dog -- head  ", "dog_head"},
		{"dog-head", "dog_head"},
		{"\tHands\nClapping", "hands_clapping"},
		{"bow_on_strings", "bow_on_strings"},
		{"a_-b", "a__b"},
		{"_x_", "x"},
		{"___", ""},
		{" - ", ""},
		{"ÄRGER Öl", "ärger_öl"},
		{strings.Repeat("é", 60), strings.Repeat("é", 48)},
		// Cut after trimming, so a cut can end on "_".
		{strings.Repeat("a", 47) + " bc", strings.Repeat("a", 47) + "_"},
	}
	for _, tt := range tests {
		if got := NormaliseName(tt.in); got != tt.want {
			t.Errorf("NormaliseName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// keepTrials returns n trials of which the first yes say keep=true.
func keepTrials(yes, n int) []AnalysisAnswer {
	trials := make([]AnalysisAnswer, n)
	for i := range trials {
		trials[i] = AnalysisAnswer{Keep: i < yes, HasKeep: true}
	}
	return trials
}

func TestConsensusKeepMajority(t *testing.T) {
	tests := []struct {
		yes, n int
		want   bool
	}{
		{0, 0, false},
		{1, 1, true},
		{0, 1, false},
		{1, 2, false},
		{2, 2, true},
		{2, 3, true},
		{2, 4, false}, // half is not a majority
		{3, 4, true},
		{2, 5, false},
		{3, 5, true},
	}
	for _, tt := range tests {
		c := Consensus(keepTrials(tt.yes, tt.n))
		if c.Keep != tt.want || c.KeepVotes != tt.yes {
			t.Errorf("%d of %d: keep = %v (votes %d), want %v", tt.yes, tt.n, c.Keep, c.KeepVotes, tt.want)
		}
	}
}

func TestConsensusKeepFromText(t *testing.T) {
	// Four parsed trials: "false", "true", true, "maybe" give 2 votes, not a
	// majority; reading the non-empty string "false" as true would give 3.
	texts := []string{`{"keep":"false"}`, `{"keep":"true"}`, `{"keep":true}`, `{"keep":"maybe"}`}
	var trials []AnalysisAnswer
	for _, s := range texts {
		a, err := ParseAnalysis(s)
		if err != nil {
			t.Fatal(err)
		}
		trials = append(trials, a)
	}
	if c := Consensus(trials); c.Keep || c.KeepVotes != 2 || c.Parsed != 4 {
		t.Errorf("keep = %v with %d votes of %d, want false with 2 of 4", c.Keep, c.KeepVotes, c.Parsed)
	}
	if c := Consensus(trials[:3]); !c.Keep {
		t.Errorf("2 of 3 should keep")
	}
}

func TestConsensusNoTrials(t *testing.T) {
	c := Consensus(nil)
	if c.AV != 0 || c.Keep || len(c.RoleTags) != 0 || len(c.Anchors) != 0 || c.Parsed != 0 {
		t.Errorf("Consensus(nil) = %+v, want zero result", c)
	}
	if c.RoleTags == nil || c.Anchors == nil {
		t.Errorf("lists should be empty, not nil, so they publish as []")
	}
}

func TestConsensusAV(t *testing.T) {
	tests := []struct {
		name     string
		trials   []AnalysisAnswer
		want     float64
		unscored int
	}{
		{"mean", []AnalysisAnswer{{AVConsistency: 0.5, HasAVConsistency: true}, {AVConsistency: 1, HasAVConsistency: true}}, 0.75, 0},
		{"unusable counts as 0", []AnalysisAnswer{{AVConsistency: 0.75, HasAVConsistency: true}, {}, {AVConsistency: 0.75, HasAVConsistency: true}}, 0.5, 1},
		{"out-of-range values are clipped", []AnalysisAnswer{{AVConsistency: 3, HasAVConsistency: true}, {AVConsistency: -1, HasAVConsistency: true}}, 0.5, 0},
		{"a stale value without the flag is ignored", []AnalysisAnswer{{AVConsistency: 0.9}}, 0, 1},
		{"all unusable", []AnalysisAnswer{{}, {}}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Consensus(tt.trials)
			if c.AV != tt.want || c.Unscored != tt.unscored {
				t.Errorf("AV = %v (unscored %d), want %v (%d)", c.AV, c.Unscored, tt.want, tt.unscored)
			}
		})
	}
}

func TestConsensusRoleTags(t *testing.T) {
	tests := []struct {
		name   string
		trials [][]string
		want   []string
	}{
		{"frequency, ties to first appearance",
			[][]string{{"b", "a"}, {"a", "c"}, {"c", "d", "e"}},
			[]string{"a", "c", "b", "d"}},
		{"normalised names merge",
			[][]string{{"Dog Head", "tail"}, {"dog-head"}, {" dog  head ", "tail", "paw"}},
			[]string{"dog_head", "tail", "paw"}},
		{"repeats within a trial count once",
			[][]string{{"x", "x", "x"}, {"y"}, {"y"}},
			[]string{"y", "x"}},
		{"empty names are dropped",
			[][]string{{"---", "a"}, {"  "}},
			[]string{"a"}},
		{"at most four",
			[][]string{{"a", "b", "c", "d", "e", "f"}},
			[]string{"a", "b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trials []AnalysisAnswer
			for _, tags := range tt.trials {
				trials = append(trials, AnalysisAnswer{RoleTags: tags})
			}
			if got := Consensus(trials).RoleTags; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RoleTags = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConsensusAnchors(t *testing.T) {
	vote := func(name string, score float64) AnchorVote {
		return AnchorVote{Anchor: name, Score: score, HasScore: true}
	}
	tests := []struct {
		name   string
		trials [][]AnchorVote
		want   []Anchor
	}{
		// Scores are binary fractions so means are exact. Means: b .5, a .5,
		// c .5, d 1, e 0, f .125, g .625; first appearance b,a,c,d,e,f,g.
		{"mean per name, top five, ties to first appearance",
			[][]AnchorVote{
				{vote("b", 0.5), vote("a", 0.75)},
				{vote("a", 0.25), vote("c", 0.5), vote("d", 1)},
				{vote("e", 0), vote("f", 0.125), vote("g", 0.625)},
			},
			[]Anchor{{"d", 1}, {"g", 0.625}, {"b", 0.5}, {"a", 0.5}, {"c", 0.5}}},
		{"a vote without a score counts 0",
			[][]AnchorVote{{vote("x", 1)}, {{Anchor: "x"}}},
			[]Anchor{{"x", 0.5}}},
		{"mean is over the trials that voted",
			[][]AnchorVote{{vote("x", 0.75)}, {vote("y", 0.25)}, {vote("x", 0.25)}},
			[]Anchor{{"x", 0.5}, {"y", 0.25}}},
		{"names normalised, repeats in a trial use the first",
			[][]AnchorVote{{vote("Dog Mouth-Open", 0.5), vote("dog_mouth_open", 1)}, {vote("dog mouth open", 1)}},
			[]Anchor{{"dog_mouth_open", 0.75}}},
		{"scores clipped", [][]AnchorVote{{vote("x", 7)}, {vote("x", -3)}}, []Anchor{{"x", 0.5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trials []AnalysisAnswer
			for _, votes := range tt.trials {
				trials = append(trials, AnalysisAnswer{AnchorVotes: votes})
			}
			if got := Consensus(trials).Anchors; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Anchors = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGate(t *testing.T) {
	keep := ConsensusResult{Keep: true}
	tests := []struct {
		name       string
		c          ConsensusResult
		conf       float64
		tauAV, tau float64
		skip       bool
		reason     string
	}{
		{"exact equality passes", ConsensusResult{Keep: true, AV: 0.5}, 0.75, 0.5, 0.75, true, "keep, av and audio confidence pass"},
		{"well above", ConsensusResult{Keep: true, AV: 0.9}, 0.95, 0.5, 0.75, true, "keep, av and audio confidence pass"},
		{"zero thresholds pass zero values", keep, 0, 0, 0, true, "keep, av and audio confidence pass"},
		{"keep false", ConsensusResult{AV: 0.9}, 0.9, 0.5, 0.75, false, "keep=false"},
		{"av below", ConsensusResult{Keep: true, AV: 0.42}, 0.9, 0.5, 0.75, false, "av 0.42 < tau_av 0.50"},
		{"audio below", ConsensusResult{Keep: true, AV: 0.9}, 0.6, 0.5, 0.75, false, "audio_confidence 0.60 < tau_audio 0.75"},
		{"just below shows more digits", ConsensusResult{Keep: true, AV: 0.499}, 0.9, 0.5, 0.75, false, "av 0.499 < tau_av 0.500"},
		{"everything fails", ConsensusResult{AV: 0.1}, 0.2, 0.5, 0.75, false, "keep=false; av 0.10 < tau_av 0.50; audio_confidence 0.20 < tau_audio 0.75"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Gate(tt.c, tt.conf, tt.tauAV, tt.tau)
			if got.SkipRefine != tt.skip || got.Reason != tt.reason {
				t.Errorf("Gate = %+v, want skip %v reason %q", got, tt.skip, tt.reason)
			}
		})
	}
}

func TestGateNaNRefines(t *testing.T) {
	nan := 0.0
	nan /= nan
	if d := Gate(ConsensusResult{Keep: true, AV: 1}, nan, 0.5, 0.75); d.SkipRefine {
		t.Errorf("NaN audio confidence skipped refinement: %+v", d)
	}
	if d := Gate(ConsensusResult{Keep: true, AV: nan}, 1, 0.5, 0.75); d.SkipRefine {
		t.Errorf("NaN av skipped refinement: %+v", d)
	}
}
