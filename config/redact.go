package config

import "strings"

// redacted replaces secrets in messages and String output.
const redacted = "xxxxx"

// redactURL hides the password of a URL's user info. It works on the raw
// text rather than net/url so that malformed URLs (an unescaped "/" in a
// camera password is common) are redacted too; when in doubt it hides
// more than needed.
func redactURL(s string) string {
	scheme := strings.Index(s, "://")
	if scheme < 0 {
		return s
	}
	rest := s[scheme+3:]
	if end := strings.IndexAny(rest, "?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return s[:scheme+3] + user + ":" + redacted + s[scheme+3+at:]
}

// deviceDemuxers are the libavdevice inputs written "<demuxer>:<device>";
// the capture package reads inputs the same way.
var deviceDemuxers = map[string]bool{"v4l2": true, "alsa": true, "pulse": true}

// isFileInput reports whether an input names a file rather than a device
// or a network URL; only files can loop.
func isFileInput(s string) bool {
	if i := strings.IndexByte(s, ':'); i > 0 {
		scheme := strings.ToLower(s[:i])
		if deviceDemuxers[scheme] {
			return false
		}
		if strings.HasPrefix(s[i:], "://") {
			return scheme == "file"
		}
	}
	return true
}

// sensitiveOptionWords mark FFmpeg option names whose values are hidden in
// String output, such as srt's "passphrase" or http's "headers" and
// "cookies". Hiding a harmless value now and then is the price of never
// printing a credential.
var sensitiveOptionWords = []string{"pass", "secret", "token", "auth", "key", "cred", "header", "cookie"}

func isSensitiveOption(name string) bool {
	lower := strings.ToLower(name)
	for _, w := range sensitiveOptionWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
