package track

import (
	"strings"
	"unicode"
)

// stopWords are words that say nothing about which source is heard, so two
// labels sharing only these are not compatible ("sound of a dog" and "sound
// of rain").
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "of": true, "and": true, "or": true,
	"with": true, "in": true, "on": true, "at": true, "from": true, "by": true,
	"to": true, "is": true, "are": true, "some": true, "someone": true,
	"something": true, "sound": true, "noise": true, "audio": true,
	"background": true, "loud": true, "soft": true,
}

// normLabel lower-cases a label and folds everything but letters and digits
// to single spaces: "Dog  barking!" → "dog barking".
func normLabel(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), notWordRune), " ")
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// contentWords returns the words of a normalised label outside stopWords,
// with a plural s dropped ("dogs" → "dog", "glass" stays).
func contentWords(norm string) []string {
	var out []string
	for _, w := range strings.Fields(norm) {
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = w[:len(w)-1]
		}
		if !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// compatible says whether two labels can name the same source: equal after
// normalisation, or sharing a content word. An empty label (the audio answer
// was unusable) is no evidence against any.
func compatible(a, b string, aWords, bWords []string) bool {
	if a == "" || b == "" || a == b {
		return true
	}
	for _, x := range aWords {
		for _, y := range bWords {
			if x == y {
				return true
			}
		}
	}
	return false
}

// maxLabels bounds the label counts a track keeps, so a model that names a
// long-lived source anew each window cannot grow it without bound.
const maxLabels = 8

type labelCount struct {
	label   string
	n       int
	confSum float64
}

// labels is a track's label tally: the published label is the most frequent
// one over the hits, with that label's mean confidence.
type labels struct {
	counts  []labelCount
	current int // index into counts
}

func (l *labels) add(label string, conf float64) {
	i := -1
	for k := range l.counts {
		if l.counts[k].label == label {
			i = k
			break
		}
	}
	if i < 0 {
		if len(l.counts) < maxLabels {
			l.counts = append(l.counts, labelCount{label: label})
			i = len(l.counts) - 1
		} else {
			// The rarest label other than the current one makes room.
			for k := range l.counts {
				if k != l.current && (i < 0 || l.counts[k].n < l.counts[i].n) {
					i = k
				}
			}
			l.counts[i] = labelCount{label: label}
		}
	}
	l.counts[i].n++
	l.counts[i].confSum += conf
	// Ties keep the current label, so two labels taking turns do not flip
	// the published one (and make an update) every window.
	if len(l.counts) == 1 || l.counts[i].n > l.counts[l.current].n {
		l.current = i
	}
}

func (l *labels) label() (string, float64) {
	if len(l.counts) == 0 {
		return "", 0
	}
	c := l.counts[l.current]
	return c.label, c.confSum / float64(c.n)
}
