package gar

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrInvalidAnswer marks a model answer that could not be used. Callers
// count these as invalid outputs; errors.Is(err, ErrInvalidAnswer) holds for
// every parse failure, including ErrNoJSON.
var ErrInvalidAnswer = errors.New("invalid model answer")

// ErrNoJSON marks an answer in which no JSON value could be decoded at all.
var ErrNoJSON = fmt.Errorf("no JSON in model answer: %w", ErrInvalidAnswer)

const (
	// maxAnswerBytes bounds how much of an answer is searched; answers are
	// a few hundred tokens, so anything beyond this is runaway generation.
	maxAnswerBytes = 64 << 10
	// maxScans bounds the bracket scans per answer so that adversarial
	// text ("{{{{…") costs O(maxScans·n), not O(n²).
	maxScans = 128
	// maxFences bounds how many fenced blocks are searched before the
	// whole text.
	maxFences = 8
)

// findJSON returns the first JSON value in text that decodes and that accept
// approves. Fenced code blocks are searched first, then the whole text;
// within a region every '{' (and '[' when allowArray) is a candidate start,
// in order, so prose, "assistant" headers and wrapper objects are skipped.
func findJSON(text string, allowArray bool, accept func(any) bool) (any, error) {
	if len(text) > maxAnswerBytes {
		text = text[:maxAnswerBytes]
	}
	decoded := false
	scans := 0
	for _, region := range searchRegions(text) {
		for i := 0; i < len(region) && scans < maxScans; i++ {
			if c := region[i]; c != '{' && (!allowArray || c != '[') {
				continue
			}
			scans++
			end := balancedEnd(region, i)
			if end < 0 {
				continue
			}
			v, ok := decodeLenient(region[i : end+1])
			if !ok {
				continue
			}
			decoded = true
			if accept(v) {
				return v, nil
			}
		}
	}
	if !decoded {
		return nil, ErrNoJSON
	}
	return nil, fmt.Errorf("no JSON value with the expected members: %w", ErrInvalidAnswer)
}

// searchRegions returns the contents of fenced code blocks (an unclosed
// fence runs to the end, as in a truncated answer) followed by the whole
// text.
func searchRegions(text string) []string {
	var regions []string
	rest := text
	for len(regions) < maxFences {
		open := strings.Index(rest, "```")
		if open < 0 {
			break
		}
		body := rest[open+3:]
		// The info string ("json", "JSON", …) ends at the first newline.
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[") {
			body = body[nl+1:]
		}
		closeAt := strings.Index(body, "```")
		if closeAt < 0 {
			regions = append(regions, body)
			break
		}
		regions = append(regions, body[:closeAt])
		rest = body[closeAt+3:]
	}
	return append(regions, text)
}

// balancedEnd returns the index of the bracket closing the one at start, or
// −1 when brackets mismatch or the text ends first. Brackets inside JSON
// strings are ignored.
func balancedEnd(s string, start int) int {
	var closers []byte
	inString, escaped := false, false
	for i := start; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			closers = append(closers, '}')
		case '[':
			closers = append(closers, ']')
		case '}', ']':
			if len(closers) == 0 || closers[len(closers)-1] != c {
				return -1
			}
			closers = closers[:len(closers)-1]
			if len(closers) == 0 {
				return i
			}
		}
	}
	return -1
}

// decodeLenient decodes s as one JSON value, retrying once after repairing
// the slips models commonly make.
func decodeLenient(s string) (any, bool) {
	if v, err := decodeStrict(s); err == nil {
		return v, true
	}
	repaired, changed := repairJSON(s)
	if !changed {
		return nil, false
	}
	v, err := decodeStrict(repaired)
	return v, err == nil
}

func decodeStrict(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

// repairJSON rewrites, outside strings: Python literals True/False/None to
// JSON; bare NaN/Infinity/inf (with an optional sign) to null, so that the
// value is rejected but the rest of the object survives; a '+' before a
// digit is dropped; and trailing commas before '}' or ']' are removed.
func repairJSON(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			b.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
			b.WriteByte(c)
		case c == ',' && closesNext(s, i+1):
			changed = true
		case (c == '+' || c == '-') && i+1 < len(s) && isLetter(s[i+1]):
			word := wordAt(s, i+1)
			if isNonFinite(word) {
				b.WriteString("null")
				i += len(word)
				changed = true
			} else {
				b.WriteByte(c)
			}
		case c == '+' && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '.'):
			changed = true
		case isLetter(c):
			word := wordAt(s, i)
			if lit, ok := literalFor(word); ok && lit != word {
				b.WriteString(lit)
				changed = true
			} else {
				b.WriteString(word)
			}
			i += len(word) - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), changed
}

func closesNext(s string, from int) bool {
	for i := from; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '}', ']':
			return true
		default:
			return false
		}
	}
	return false
}

func wordAt(s string, from int) string {
	end := from
	for end < len(s) && (isLetter(s[end]) || s[end] == '_') {
		end++
	}
	return s[from:end]
}

func literalFor(word string) (string, bool) {
	switch strings.ToLower(word) {
	case "true":
		return "true", true
	case "false":
		return "false", true
	case "none", "null":
		return "null", true
	}
	if isNonFinite(word) {
		return "null", true
	}
	return "", false
}

func isNonFinite(word string) bool {
	switch strings.ToLower(word) {
	case "nan", "inf", "infinity":
		return true
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
