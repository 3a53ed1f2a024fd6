package redact

import (
	"strings"
	"testing"
)

// secretURLs are URLs that carry the secret "S3CRET" somewhere it must not
// be printed, in the forms FFmpeg inputs and log lines take.
var secretURLs = []string{
	"rtsp://admin:S3CRET@cam.local:554/stream1",
	"rtsp://admin:S3CRET@cam.local:abc/stream", // does not parse
	"rtsp://admin:S3%CRET@cam.local/stream",    // bad escape
	"rtsp://admin:S3CRET@[::1/stream",          // unclosed bracket
	"rtsp://admin:pa/S3CRET@cam/1",             // unescaped "/" in the password
	"rtsp://admin:p@S3CRET@cam/1",              // unescaped "@"
	"rtsp://admin:pa?S3CRET@cam/1",             // unescaped "?"
	"rtsp://S3CRET@cam/1",                      // token as user name
	"tcp://user:S3CRET@127.0.0.1:1",            // FFmpeg's "Connection to …"
	"srt://127.0.0.1:9000?mode=caller&passphrase=S3CRET",
	"http://cam/live.m3u8?token=S3CRET",
	"https://cdn/seg1.ts?X-Amz-Signature=S3CRET&X-Amz-Credential=S3CRET&ok=1",
	"https://cdn/seg1.ts?Api_Key=S3CRET#frag",
	"http://h/x?a=1;AUTH=S3CRET",
	"async:http://user:S3CRET@cam/live",
	"cache:https://user:S3CRET@cam/live",
	"async:cache:http://cam/x?sig=S3CRET",
	"crypto+https://user:S3CRET@cam/x",
	"hls+http://cam/x.m3u8?token=S3CRET",
	"concat:http://a/1.ts|http://user:S3CRET@b/2.ts",
	"subfile,,start,0,end,0,,:http://u:S3CRET@h/f",
}

func TestURLHidesEverySecret(t *testing.T) {
	for _, in := range secretURLs {
		got := URL(in)
		if strings.Contains(got, "S3CRET") {
			t.Errorf("URL(%q) = %q shows the secret", in, got)
		}
		if !strings.Contains(got, Placeholder) {
			t.Errorf("URL(%q) = %q hides nothing", in, got)
		}
	}
}

func TestURLKeepsWhatIsNotSecret(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rtsp://admin:hunter2@cam/1", "rtsp://xxxxx@cam/1"},
		{"rtsp://cam:554/1", "rtsp://cam:554/1"},
		{"srt://h:9000?mode=listener&latency=200", "srt://h:9000?mode=listener&latency=200"},
		{"srt://h:9000?passphrase=abc&mode=caller", "srt://h:9000?passphrase=xxxxx&mode=caller"},
		{"http://h/p?TOKEN=a&x=1#top", "http://h/p?TOKEN=xxxxx&x=1#top"},
		{"async:http://u:p@h/x", "async:http://xxxxx@h/x"},
		{"concat:http://u:p@a/1|http://v:q@b/2", "concat:http://xxxxx@a/1|http://xxxxx@b/2"},
		{"alsa:hw:1,0", "alsa:hw:1,0"},
		{"clips/a@b.mp4", "clips/a@b.mp4"},
		{"v4l2:/dev/video0", "v4l2:/dev/video0"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTextHidesURLsInLines(t *testing.T) {
	for _, u := range secretURLs {
		for _, line := range []string{
			"Connection to " + u + " failed: Connection refused",
			"Opening '" + u + "' for reading",
			`input="` + u + `" state=reconnecting`,
			u,
			"<" + u + ">",
		} {
			got := Text(line)
			if strings.Contains(got, "S3CRET") {
				t.Errorf("Text(%q) = %q shows the secret", line, got)
			}
		}
	}
	plain := "Packet corrupt (stream = 1, dts = 329728)"
	if got := Text(plain); got != plain {
		t.Errorf("Text changed a line without URLs: %q", got)
	}
	if got, want := Text("open 'http://u:p@h/a?key=1' and 'http://h/b'"), "open 'http://xxxxx@h/a?key=xxxxx' and 'http://h/b'"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

// TestTruncatedHidesACutURL: text cut anywhere in a URL shows no letter of
// its password, and what came before the cut URL stays readable.
func TestTruncatedHidesACutURL(t *testing.T) {
	for _, u := range secretURLs {
		line := "Opening 'http://u:p@cam/a.ts' then '" + u + "' for reading"
		for cut := len("Opening "); cut <= len(line); cut++ {
			got := Truncated(line[:cut])
			if strings.Contains(got, "S3") {
				t.Errorf("Truncated(%q) = %q shows part of the secret", line[:cut], got)
			}
		}
	}
	for in, want := range map[string]string{
		"Connection to tcp://user:pa":         "Connection to tcp://xxxxx",
		"Opening async:http://user:p":         "Opening async:http://xxxxx",
		"a http://u:p@h/1 and http://h/2?tok": "a http://xxxxx@h/1 and http://xxxxx",
		"Packet corrupt (stream = 1, dts = 3": "Packet corrupt (stream = 1, dts = 3",
		"Opening rtsp:/":                      "Opening rtsp:/",
	} {
		if got := Truncated(in); got != want {
			t.Errorf("Truncated(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasQueryCredentials(t *testing.T) {
	for in, want := range map[string]bool{
		"http://h/v1?api_key=abc":   true,
		"http://h/v1?X-Token=abc":   true,
		"http://h/v1?model=qwen":    false,
		"http://h/v1":               false,
		"http://h/v1#key=1":         false,
		"http://h/v1?a=1&passwd=2":  true,
		"http://h/v1?a=1;Signature": true,
	} {
		if got := HasQueryCredentials(in); got != want {
			t.Errorf("HasQueryCredentials(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseURLNeverQuotesTheInput(t *testing.T) {
	for _, in := range []string{
		"rtsp://admin:S3CRET@cam.local:abc/stream",
		"rtsp://admin:S3%CRET@cam.local/stream",
		"rtsp://admin:S3CRET@[::1/stream",
		"rtsp://admin:S3CRET@cam\x7f/s",
		"rtsp://admin:S3CRET@ca m/s",
	} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted it", in)
			continue
		}
		if strings.Contains(err.Error(), "S3") || strings.Contains(err.Error(), "admin") {
			t.Errorf("ParseURL(%q) error %q quotes the input", in, err)
		}
	}
	if u, err := ParseURL("rtsp://cam/1"); err != nil || u.Host != "cam" {
		t.Errorf("ParseURL(rtsp://cam/1) = %v, %v", u, err)
	}
}

// FuzzText: no panic, text without "://" is untouched, and a secret placed
// as a password or a token value never survives.
func FuzzText(f *testing.F) {
	for _, u := range secretURLs {
		f.Add(u, "S3CRET")
	}
	f.Add("plain text", "pw")
	f.Add("x://@", "a")
	f.Fuzz(func(t *testing.T, s, secret string) {
		out := Text(s)
		if !strings.Contains(s, "://") && out != s {
			t.Fatalf("Text changed %q to %q", s, out)
		}
		if URL(s) != token(s) && strings.Contains(s, "://") {
			t.Fatalf("URL and token differ on %q", s)
		}
		if secret == "" || strings.ContainsFunc(secret, func(r rune) bool {
			return isDelimiter(r) || strings.ContainsRune("@:/?#&;=|"+Placeholder, r)
		}) {
			return
		}
		for _, line := range []string{
			"see rtsp://user:" + secret + "@host/" + s,
			"see " + s + " http://h/x?a=1&token=" + secret + "&b=2 end",
		} {
			// Hiding may take more than the secret, never less.
			if got := Text(line); strings.Count(got, secret) > strings.Count(line, secret)-1 {
				t.Fatalf("Text(%q) = %q shows %q", line, got, secret)
			}
		}
	})
}
