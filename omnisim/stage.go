package omnisim

import (
	"regexp"
	"strconv"
	"strings"
)

// Stage is one of the four GAR request kinds.
type Stage string

// The stages, spelled as in X-Request-Id and the schema names.
const (
	StageLocate   Stage = "locate"
	StageAudio    Stage = "audio"
	StageAnalysis Stage = "analysis"
	StageRefine   Stage = "refine"
)

// Stages lists the stages in pipeline order.
var Stages = []Stage{StageLocate, StageAudio, StageAnalysis, StageRefine}

func parseStage(s string) (Stage, bool) {
	for _, st := range Stages {
		if string(st) == s {
			return st, true
		}
	}
	return "", false
}

// requestTag is what the X-Request-Id header says about a request.
type requestTag struct {
	stage  Stage
	source int
	trial  int
}

var indexedElement = regexp.MustCompile(`^([sta])([0-9]{1,4})$`)

// parseRequestID reads <…>/<stage>[/s<k>][/t<i>][/a<j>] from the end of the
// id. The attempt a<j> of a retry changes nothing in the answer.
func parseRequestID(id string) (requestTag, bool) {
	elems := strings.Split(id, "/")
	tag := requestTag{}
	seen := map[string]bool{}
	for len(elems) > 0 {
		last := elems[len(elems)-1]
		if st, ok := parseStage(last); ok {
			tag.stage = st
			return tag, true
		}
		m := indexedElement.FindStringSubmatch(last)
		if m == nil || seen[m[1]] {
			return requestTag{}, false
		}
		seen[m[1]] = true
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "s":
			tag.source = n
		case "t":
			tag.trial = n
		}
		elems = elems[:len(elems)-1]
	}
	return requestTag{}, false
}

// stageFromSchema reads garssl_<stage>[_multi].
func stageFromSchema(name string) (st Stage, multi bool, ok bool) {
	rest, found := strings.CutPrefix(name, "garssl_")
	if !found {
		return "", false, false
	}
	rest, multi = strings.CutSuffix(rest, "_multi")
	st, ok = parseStage(rest)
	return st, multi && ok, ok
}

// stageFromText applies the keyword rules of the package doc. Order matters:
// later-stage prompts quote the fields of earlier stages.
func stageFromText(text string) (Stage, bool) {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "refine"):
		return StageRefine, true
	case strings.Contains(t, "av_consistency"), strings.Contains(t, "anchor_votes"):
		return StageAnalysis, true
	case strings.Contains(t, "bbox"), strings.Contains(t, "bounding box"), strings.Contains(t, "locate"):
		return StageLocate, true
	case strings.Contains(t, "audio_class"), strings.Contains(t, "classify"):
		return StageAudio, true
	}
	return "", false
}

// detection is the outcome of stage detection for one request.
type detection struct {
	stage      Stage
	source     int
	trial      int
	schemaSet  bool // a garssl_* schema name was present
	schemaMult bool // … and it ended in _multi
	from       string
}

func detectStage(requestID, schemaName, text string) (detection, error) {
	schemaStage, multi, schemaOK := stageFromSchema(schemaName)
	if tag, ok := parseRequestID(requestID); ok {
		d := detection{stage: tag.stage, source: tag.source, trial: tag.trial, from: "request id"}
		if schemaOK && schemaStage == tag.stage {
			d.schemaSet, d.schemaMult = true, multi
		}
		return d, nil
	}
	if schemaOK {
		return detection{stage: schemaStage, schemaSet: true, schemaMult: multi, from: "schema name"}, nil
	}
	if st, ok := stageFromText(text); ok {
		return detection{stage: st, from: "prompt keywords"}, nil
	}
	return detection{}, badRequestf("cannot tell the stage: send X-Request-Id …/<stage>[/s<k>][/t<i>], " +
		"a response_format json_schema named garssl_<stage>, or a prompt that mentions its fields " +
		"(stages: locate, audio, analysis, refine)")
}

var (
	kEquals  = regexp.MustCompile(`(?i)\bk\s*=\s*([0-9]+)\b`)
	kExactly = regexp.MustCompile(`(?i)\bexactly\s+([0-9]+|one|two|three|four|five|six|seven|eight)\s+(?:[a-z-]+\s+){0,3}?(?:sources|objects|object|source|entries)\b`)
)

var numberWords = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}

// sourcesFromText returns the K the prompt asks for, if it says.
func sourcesFromText(text string) (int, bool) {
	for _, re := range []*regexp.Regexp{kEquals, kExactly} {
		m := re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		word := strings.ToLower(m[1])
		n, ok := numberWords[word]
		if !ok {
			var err error
			if n, err = strconv.Atoi(word); err != nil {
				continue
			}
		}
		if n >= 1 {
			return min(n, maxSources), true
		}
	}
	return 0, false
}

// sourceCount decides K for locate and audio requests (package doc).
func sourceCount(d detection, text string, defaultK int) int {
	if d.stage != StageLocate && d.stage != StageAudio {
		return 1
	}
	k, said := sourcesFromText(text)
	switch {
	case d.schemaSet && !d.schemaMult:
		return 1
	case d.schemaSet && d.schemaMult:
		if said && k >= 2 {
			return k
		}
		return max(2, defaultK)
	case said:
		return k
	}
	return defaultK
}
