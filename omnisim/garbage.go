package omnisim

import (
	"regexp"
)

// garbageKind is the flavour of a garbage answer. Every flavour is rejected by
// a strict JSON parser, also after cutting from the first '{' to the last '}'.
type garbageKind int

const (
	garbageProse garbageKind = iota
	garbageTruncated
	garbageNaN
	garbageInfinity
	garbageKinds
)

const garbageProseText = "I listened to the clip and looked at the picture carefully. " +
	"The sound most likely comes from the object in the middle, but I cannot be certain about its exact position."

// firstNumberField matches the first numeric value of a field that every
// answer shape has. Keys are matched with their quotes, which cannot occur
// unescaped inside a JSON string, so descriptions are never touched.
var firstNumberField = regexp.MustCompile(`("(?:bbox|av_consistency|audio_confidence_score)":\[?)(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)`)

// spoil turns a valid JSON answer into garbage of the given kind.
func spoil(validJSON string, kind garbageKind) string {
	switch kind {
	case garbageTruncated:
		return validJSON[:len(validJSON)/2]
	case garbageNaN, garbageInfinity:
		bad := "NaN"
		if kind == garbageInfinity {
			bad = "Infinity"
		}
		loc := firstNumberField.FindStringSubmatchIndex(validJSON)
		if loc == nil {
			return garbageProseText
		}
		return validJSON[:loc[4]] + bad + validJSON[loc[5]:]
	}
	return garbageProseText
}
