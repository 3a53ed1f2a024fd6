package gar

import (
	"errors"
	"fmt"
)

// errBadSourceCount is returned for k < 1.
var errBadSourceCount = errors.New("source count must be at least 1")

// ParseLocateMulti reads a multi-source locate answer with k sources:
// {"sources":[{"bbox":…,"description":…},…]} or, for k ≥ 2, a top-level
// array of such objects; for k = 1 the single-source shape is accepted too.
// The first k entries must all be usable; entries beyond k are ignored.
func ParseLocateMulti(text string, w, h, k int) ([]LocateAnswer, error) {
	if k < 1 {
		return nil, fmt.Errorf("locate answer: %w", errBadSourceCount)
	}
	one := func(v any) (LocateAnswer, bool) { return locateFrom(v, w, h) }
	out, err := parseMulti(text, k, one)
	if err != nil {
		return nil, fmt.Errorf("locate answer with %d sources: %w", k, err)
	}
	return out, nil
}

// ParseAudioMulti reads a multi-source audio answer with k sources, in the
// shapes ParseLocateMulti accepts.
func ParseAudioMulti(text string, k int) ([]AudioAnswer, error) {
	if k < 1 {
		return nil, fmt.Errorf("audio answer: %w", errBadSourceCount)
	}
	out, err := parseMulti(text, k, audioFrom)
	if err != nil {
		return nil, fmt.Errorf("audio answer with %d sources: %w", k, err)
	}
	return out, nil
}

func parseMulti[T any](text string, k int, one func(any) (T, bool)) ([]T, error) {
	var out []T
	_, err := findJSON(text, k >= 2, func(v any) bool {
		var list []any
		switch t := v.(type) {
		case []any:
			list = t
		case map[string]any:
			if sources, ok := t["sources"].([]any); ok {
				list = sources
			} else if k == 1 {
				list = []any{t}
			}
		}
		var ok bool
		out, ok = firstK(list, k, one)
		return ok
	})
	return out, err
}

func firstK[T any](list []any, k int, one func(any) (T, bool)) ([]T, bool) {
	if len(list) < k {
		return nil, false
	}
	out := make([]T, 0, k)
	for _, e := range list[:k] {
		a, ok := one(e)
		if !ok {
			return nil, false
		}
		out = append(out, a)
	}
	return out, true
}
