package capture

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseInput(t *testing.T) {
	cases := []struct {
		in     string
		format string
		url    string
		path   string // the local file checked before opening
		live   bool
		err    bool
		shown  string
	}{
		{in: "/data/clip.mp4", url: "/data/clip.mp4", path: "/data/clip.mp4", shown: "/data/clip.mp4"},
		{in: "file:///data/clip.mp4", url: "/data/clip.mp4", path: "/data/clip.mp4", shown: "file:///data/clip.mp4"},
		{in: "file:/data/clip.mp4", url: "file:/data/clip.mp4", path: "/data/clip.mp4", shown: "file:/data/clip.mp4"},
		{in: "file:clip.mp4", url: "file:clip.mp4", path: "clip.mp4", shown: "file:clip.mp4"},
		{in: "pipe:0", url: "pipe:0", shown: "pipe:0"},
		{in: "async:/data/clip.mp4", url: "async:/data/clip.mp4", shown: "async:/data/clip.mp4"},
		{in: "rtsp://cam.local/stream1", url: "rtsp://cam.local/stream1", live: true, shown: "rtsp://cam.local/stream1"},
		{in: "rtsp://admin:s3cret@cam/s1", url: "rtsp://admin:s3cret@cam/s1", live: true, shown: "rtsp://xxxxx@cam/s1"},
		{in: "udp://127.0.0.1:5000", url: "udp://127.0.0.1:5000", live: true, shown: "udp://127.0.0.1:5000"},
		{in: "srt://127.0.0.1:9000?mode=listener", url: "srt://127.0.0.1:9000?mode=listener", live: true, shown: "srt://127.0.0.1:9000?mode=listener"},
		{in: "v4l2:/dev/video0", format: "v4l2", url: "/dev/video0", live: true, shown: "v4l2:/dev/video0"},
		{in: "alsa:hw:1,0", format: "alsa", url: "hw:1,0", live: true, shown: "alsa:hw:1,0"},
		{in: "pulse:default", format: "pulse", url: "default", live: true, shown: "pulse:default"},
		{in: "/run/cam/front.sdp", url: "/run/cam/front.sdp", path: "/run/cam/front.sdp", live: true, shown: "/run/cam/front.sdp"},
		{in: "alsa:", err: true},
		{in: "  ", err: true},
		{in: "rtsp://[::1", err: true},
	}
	for _, tc := range cases {
		got, err := parseInput(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseInput(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got.format != tc.format || got.url != tc.url || got.path != tc.path || got.live != tc.live || got.String() != tc.shown {
			t.Errorf("parseInput(%q) = %+v (shown %q), want format %q url %q path %q live %v shown %q", tc.in, got, got.String(), tc.format, tc.url, tc.path, tc.live, tc.shown)
		}
	}
}

// FuzzParseInput: no panic, and a password never survives into String.
func FuzzParseInput(f *testing.F) {
	for _, s := range []string{"rtsp://u:p@h/x", "alsa:hw:0", "file:///a", "udp://:1", "v4l2:", "%zz://", "a:b://c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseInput(s)
		if err != nil {
			return
		}
		u, perr := url.Parse(s)
		if perr != nil || u.User == nil {
			return
		}
		if pw, ok := u.User.Password(); ok && pw != "" && pw != "xxxxx" && strings.Contains(spec.String(), ":"+url.UserPassword("", pw).String()[1:]+"@") {
			t.Fatalf("password %q shown in %q", pw, spec.String())
		}
	})
}
