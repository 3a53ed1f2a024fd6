package gar

import (
	"strings"
	"unicode"
)

// maxNameRunes is the length a normalised tag or anchor name is cut to.
const maxNameRunes = 48

// NormaliseName turns a role tag or anchor name into its consensus key:
// lowercase; each run of whitespace and hyphens becomes one "_"; leading and
// trailing "_" are trimmed; the result is cut to 48 runes. Existing
// underscores are left as they are, so "a_-b" becomes "a__b". An empty
// result means the name is dropped.
func NormaliseName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inRun := false
	for _, r := range strings.ToLower(s) {
		if r == '-' || unicode.IsSpace(r) {
			if !inRun {
				b.WriteByte('_')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return truncateRunes(strings.Trim(b.String(), "_"), maxNameRunes)
}
