package gar

import "slices"

// Limits of the consensus lists (design §3.3).
const (
	maxRoleTags = 4
	maxAnchors  = 5
)

// Anchor is a consensus anchor: a normalised name and its mean score.
type Anchor struct {
	Anchor string  `json:"anchor"`
	Score  float64 `json:"score"`
}

// ConsensusResult aggregates the parsed analysis trials of one source.
type ConsensusResult struct {
	AV       float64
	RoleTags []string
	Anchors  []Anchor
	Keep     bool
	// Parsed is the number of trials aggregated; KeepVotes how many said
	// true; Unscored how many had no usable av_consistency (counted as 0).
	Parsed    int
	KeepVotes int
	Unscored  int
}

// Consensus aggregates parsed analysis trials per design §3.3 (Eq. 11–12).
//
// Each trial votes at most once per normalised tag and once per normalised
// anchor (its first mention), so a trial that repeats a name cannot outvote
// the others. An anchor's score is the mean over the trials that voted for
// it; a vote without a usable score counts as 0.
func Consensus(trials []AnalysisAnswer) ConsensusResult {
	res := ConsensusResult{Parsed: len(trials), RoleTags: []string{}, Anchors: []Anchor{}}
	if len(trials) == 0 {
		return res
	}
	var avSum float64
	tags := newTally()
	anchors := newTally()
	for _, t := range trials {
		if t.HasAVConsistency {
			avSum += clip01(t.AVConsistency)
		} else {
			res.Unscored++
		}
		if t.HasKeep && t.Keep {
			res.KeepVotes++
		}
		seen := map[string]bool{}
		for _, tag := range t.RoleTags {
			if name := NormaliseName(tag); name != "" && !seen[name] {
				seen[name] = true
				tags.add(name, 0)
			}
		}
		clear(seen)
		for _, v := range t.AnchorVotes {
			if name := NormaliseName(v.Anchor); name != "" && !seen[name] {
				seen[name] = true
				score := 0.0
				if v.HasScore {
					score = clip01(v.Score)
				}
				anchors.add(name, score)
			}
		}
	}
	res.AV = avSum / float64(len(trials))
	res.Keep = res.KeepVotes >= len(trials)/2+1

	for _, e := range tags.ranked(func(e *tallyEntry) float64 { return float64(e.votes) }, maxRoleTags) {
		res.RoleTags = append(res.RoleTags, e.name)
	}
	for _, e := range anchors.ranked(func(e *tallyEntry) float64 { return e.sum / float64(e.votes) }, maxAnchors) {
		res.Anchors = append(res.Anchors, Anchor{Anchor: e.name, Score: e.sum / float64(e.votes)})
	}
	return res
}

// tally counts votes per name and remembers first appearance, which is the
// insertion order of entries.
type tally struct {
	index   map[string]int
	entries []*tallyEntry
}

type tallyEntry struct {
	name  string
	votes int
	sum   float64
}

func newTally() *tally { return &tally{index: map[string]int{}} }

func (t *tally) add(name string, score float64) {
	i, ok := t.index[name]
	if !ok {
		i = len(t.entries)
		t.index[name] = i
		t.entries = append(t.entries, &tallyEntry{name: name})
	}
	t.entries[i].votes++
	t.entries[i].sum += score
}

// ranked returns up to n entries by descending key; the stable sort keeps
// first appearance ahead on ties.
func (t *tally) ranked(key func(*tallyEntry) float64, n int) []*tallyEntry {
	sorted := slices.Clone(t.entries)
	slices.SortStableFunc(sorted, func(a, b *tallyEntry) int {
		ka, kb := key(a), key(b)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return 0
	})
	return sorted[:min(len(sorted), n)]
}
