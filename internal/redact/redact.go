// Package redact hides credentials in URLs and in free text that may quote
// URLs (FFmpeg's log lines, error messages), so that nothing garssld prints
// carries a secret.
//
// What is hidden, in every URL found:
//   - the whole user info ("rtsp://admin:pw@cam" → "rtsp://xxxxx@cam"); a
//     lone user name is hidden too, because tokens travel that way;
//   - the value of every query parameter whose name contains, ignoring case,
//     one of pass, token, key, secret, sig, auth or cred ("?token=abc" →
//     "?token=xxxxx").
//
// The work is done on the raw text rather than with net/url, so malformed
// URLs (an unescaped "/" or "@" in a camera password is common) are hidden
// too. Nested protocols (async:, cache:, crypto+, hls+, concat:a|b, …)
// need no unwrapping: every "://" in the text starts a URL of its own. When
// in doubt more is hidden than needed: the user info runs to the last "@"
// before the next URL or the end of the token.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Placeholder replaces every hidden value.
const Placeholder = "xxxxx"

// sensitiveWords mark query parameters whose values are hidden.
var sensitiveWords = []string{"pass", "token", "key", "secret", "sig", "auth", "cred"}

// IsSensitiveName reports whether a query parameter (or option) name
// suggests that its value is a credential.
func IsSensitiveName(name string) bool {
	lower := strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// URL hides the secrets of a value that is one URL, an FFmpeg input or a
// path; anything without "://" comes back unchanged.
func URL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return token(s)
}

// Text hides the secrets of every URL in s. URLs end at white space, quotes
// and angle brackets.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := strings.IndexFunc(s, isDelimiter)
		if i < 0 {
			b.WriteString(token(s))
			break
		}
		b.WriteString(token(s[:i]))
		// Delimiters are all ASCII.
		b.WriteByte(s[i])
		s = s[i+1:]
	}
	return b.String()
}

// Truncated is Text for text that was cut short. A URL at the cut may end
// inside its user info, before the "@" that tells a password from a host
// name, so everything after that URL's "://" is hidden.
func Truncated(s string) string {
	last := strings.LastIndexFunc(s, isDelimiter) + 1 // the token the cut ended
	if i := strings.LastIndex(s[last:], "://"); i >= 0 {
		s = s[:last+i+3] + Placeholder
	}
	return Text(s)
}

func isDelimiter(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// token redacts one run of text without delimiters, which may hold several
// URLs ("concat:http://a|http://b", "async:cache:http://…").
func token(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := len(s)
		if next := strings.Index(s, "://"); next >= 0 {
			end = next
		}
		b.WriteString(oneURL(s[:end]))
		s = s[end:]
	}
}

// oneURL redacts what follows a "://": user info, host, path and query, up
// to the next URL.
func oneURL(rest string) string {
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = Placeholder + rest[at:]
	}
	q := strings.IndexByte(rest, '?')
	if q < 0 {
		return rest
	}
	return rest[:q+1] + query(rest[q+1:])
}

// query hides the values of sensitive parameters in a raw query, which may
// be followed by a fragment.
func query(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	for len(q) > 0 {
		end := strings.IndexAny(q, "&;#")
		param := q
		if end >= 0 {
			param = q[:end]
		}
		if name, _, hasValue := strings.Cut(param, "="); hasValue && IsSensitiveName(name) {
			param = name + "=" + Placeholder
		}
		b.WriteString(param)
		if end < 0 {
			break
		}
		if q[end] == '#' {
			b.WriteString(q[end:])
			break
		}
		b.WriteByte(q[end])
		q = q[end+1:]
	}
	return b.String()
}

// HasQueryCredentials reports whether a URL's query names a parameter that
// looks like a credential.
func HasQueryCredentials(s string) bool {
	_, after, ok := strings.Cut(s, "?")
	if !ok {
		return false
	}
	after, _, _ = strings.Cut(after, "#")
	for _, param := range strings.FieldsFunc(after, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(param, "=")
		if IsSensitiveName(name) {
			return true
		}
	}
	return false
}

// ParseURL is url.Parse with an error that never quotes the input: the
// *url.Error of net/url repeats the whole URL, password included, and an
// escape error quotes the bytes after the "%", which may be part of one.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err == nil {
		return u, nil
	}
	var escape url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(err, &escape):
		return nil, errors.New(`a "%" is not followed by two hexadecimal digits; write %25 for a "%" itself`)
	case errors.As(err, &host):
		return nil, errors.New("its host holds a character not allowed there")
	default:
		// net/url's other errors (bad port, unclosed IPv6 bracket, control
		// characters) are plain strings that quote the input.
		return nil, errors.New("check its host and port, and percent-encode any \"@\", \"/\", \"?\", \"#\" or \"%\" in a user name or password")
	}
}
