package capture

import (
	"fmt"
	"strings"

	"github.com/garssl/garssld/internal/redact"
)

// deviceDemuxers are the libavdevice inputs a robot uses, written as
// "<demuxer>:<device>" in configs.
var deviceDemuxers = map[string]bool{"v4l2": true, "alsa": true, "pulse": true}

// liveSchemes are network inputs that are expected to run forever; a file
// served over http(s) is treated as live too, because robots use http for
// camera streams (MJPEG, HLS), not for finite files.
var liveSchemes = map[string]bool{
	"rtsp": true, "rtsps": true, "rtmp": true, "udp": true, "srt": true,
	"tcp": true, "http": true, "https": true, "rtp": true,
}

// inputSpec is a parsed input: what to hand to avformat_open_input.
type inputSpec struct {
	raw     string // as configured, for messages
	format  string // forced demuxer ("v4l2", …) or ""
	url     string // what FFmpeg opens
	path    string // the local file url names, or "" (a device, a URL, an FFmpeg protocol)
	live    bool
	network bool
}

// parseInput classifies an input string. It does not touch the file system
// or network; opening reports those errors.
func parseInput(s string) (inputSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return inputSpec{}, fmt.Errorf("empty input: give a file path, a URL (rtsp://, udp://, srt://, http://) or a device such as v4l2:/dev/video0")
	}
	if i := strings.IndexByte(s, ':'); i > 0 {
		scheme := strings.ToLower(s[:i])
		if deviceDemuxers[scheme] {
			dev := s[i+1:]
			if dev == "" {
				return inputSpec{}, fmt.Errorf("input %q names no device: write %s:<device>, e.g. v4l2:/dev/video0, alsa:hw:1,0, pulse:default", s, scheme)
			}
			return inputSpec{raw: s, format: scheme, url: dev, live: true}, nil
		}
		if strings.HasPrefix(s[i:], "://") {
			u, err := redact.ParseURL(s)
			if err != nil {
				return inputSpec{}, fmt.Errorf("input %q is not a valid URL: %w", redact.URL(s), err)
			}
			if scheme == "file" {
				return inputSpec{raw: s, url: u.Path, path: u.Path}, nil
			}
			return inputSpec{raw: s, url: s, live: liveSchemes[scheme], network: true}, nil
		}
		if scheme == "file" { // FFmpeg's file protocol, file:<path>
			return inputSpec{raw: s, url: s, path: s[i+1:]}, nil
		}
		if !strings.Contains(s[:i], "/") {
			// Another FFmpeg protocol (pipe:0, async:…): FFmpeg judges it.
			return inputSpec{raw: s, url: s, live: strings.HasSuffix(strings.ToLower(s), ".sdp")}, nil
		}
	}
	// A session description names RTP streams: live, whatever its path.
	return inputSpec{raw: s, url: s, path: s, live: strings.HasSuffix(strings.ToLower(s), ".sdp")}, nil
}

// String is the input as it may appear in logs and errors: credentials in
// URLs are removed (internal/redact).
func (in inputSpec) String() string { return redact.URL(in.raw) }
