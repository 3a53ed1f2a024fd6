package config

import (
	"strings"

	"github.com/garssl/garssld/internal/redact"
)

// redacted replaces secrets in messages and String output.
const redacted = redact.Placeholder

// redactURL hides the user info and credential-like query values of a URL
// (see internal/redact); it works on malformed URLs too.
func redactURL(s string) string { return redact.URL(s) }

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

// isSensitiveOption reports FFmpeg option names whose values are hidden in
// String output: those redact hides in URL queries (srt's "passphrase"),
// plus http's "headers" and "cookies". Hiding a harmless value now and then
// is the price of never printing a credential.
func isSensitiveOption(name string) bool {
	lower := strings.ToLower(name)
	return redact.IsSensitiveName(name) || strings.Contains(lower, "header") || strings.Contains(lower, "cookie")
}
