package gar

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Readers for loosely typed JSON values as decoded by decodeStrict (numbers
// arrive as json.Number). Each returns ok=false when the value is unusable.

// readNumber accepts a JSON number or a string holding a plain decimal
// number (surrounding spaces allowed). NaN, infinities, hex floats and values
// that overflow float64 are rejected.
func readNumber(v any) (float64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
		if !isDecimal(s) {
			return 0, false
		}
	case float64:
		return t, !math.IsNaN(t) && !math.IsInf(t, 0)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// isDecimal reports whether s is [+-]digits[.digits][(e|E)[+-]digits], with
// digits allowed on either side of the point but not missing from both.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	intDigits := countDigits(s[i:])
	i += intDigits
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		fracDigits = countDigits(s[i:])
		i += fracDigits
	}
	if intDigits+fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := countDigits(s[i:])
		if expDigits == 0 {
			return false
		}
		i += expDigits
	}
	return i == len(s)
}

func countDigits(s string) int {
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// readScore is readNumber clipped to [0,1].
func readScore(v any) (float64, bool) {
	f, ok := readNumber(v)
	if !ok {
		return 0, false
	}
	return clip01(f), true
}

func clip01(f float64) float64 { return math.Min(1, math.Max(0, f)) }

// readBool accepts true/false, the numbers 1/0 and the strings "true",
// "false", "yes", "no", "1", "0" in any case with surrounding spaces.
func readBool(v any) (value, ok bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case json.Number, float64:
		f, ok := readNumber(t)
		switch {
		case ok && f == 1:
			return true, true
		case ok && f == 0:
			return false, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "yes", "1":
			return true, true
		case "false", "no", "0":
			return false, true
		}
	}
	return false, false
}

// readString accepts a JSON string, trimmed and cut to maxRunes runes.
func readString(v any, maxRunes int) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	return truncateRunes(strings.TrimSpace(s), maxRunes), true
}

// truncateRunes cuts s to at most n runes without splitting a UTF-8
// sequence. Invalid bytes count as one rune each.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}

// readBoxRaw reads four coordinates from [x1,y1,x2,y2] or from an object
// with members x1, y1, x2, y2.
func readBoxRaw(v any) ([4]float64, bool) {
	var raw [4]float64
	switch t := v.(type) {
	case []any:
		if len(t) != 4 {
			return raw, false
		}
		for i, c := range t {
			f, ok := readNumber(c)
			if !ok {
				return raw, false
			}
			raw[i] = f
		}
	case map[string]any:
		for i, key := range [4]string{"x1", "y1", "x2", "y2"} {
			f, ok := readNumber(t[key])
			if !ok {
				return raw, false
			}
			raw[i] = f
		}
	default:
		return raw, false
	}
	return raw, true
}

// readBox reads a box, treats it as normalised when every coordinate is
// ≤ 1.0 and the image is larger than 2 px on both sides, and clips it. A box
// that shares no pixel with the w×h image is not a box of this image: it is
// unusable (ok false), rather than clipped into a one-pixel box in a corner.
func readBox(v any, w, h int) (box Box, normalised, ok bool) {
	raw, ok := readBoxRaw(v)
	if !ok {
		return Box{}, false, false
	}
	if w > 2 && h > 2 && raw[0] <= 1 && raw[1] <= 1 && raw[2] <= 1 && raw[3] <= 1 {
		raw = [4]float64{raw[0] * float64(w), raw[1] * float64(h), raw[2] * float64(w), raw[3] * float64(h)}
		normalised = true
	}
	if !overlaps(raw[0], raw[2], w) || !overlaps(raw[1], raw[3], h) {
		return Box{}, false, false
	}
	return Clip(raw, w, h), normalised, true
}

// overlaps reports whether the pixels a…b (either order, rounded as Clip
// rounds them) include one of 0…size−1.
func overlaps(a, b float64, size int) bool {
	lo, hi := math.Round(min(a, b)), math.Round(max(a, b))
	return hi >= 0 && lo <= float64(atLeastOne(size)-1)
}
