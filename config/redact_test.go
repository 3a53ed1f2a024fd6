package config

import (
	"strings"
	"testing"
)

func TestIsFileInput(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"clip.mp4", true},
		{"/srv/clips/a.mkv", true},
		{"file:///srv/a.mp4", true},
		{"FILE:///srv/a.mp4", true},
		{"rtsp://cam/1", false},
		{"udp://0.0.0.0:5000", false},
		{"v4l2:/dev/video0", false},
		{"alsa:hw:1,0", false},
		{"pulse:default", false},
	}
	for _, tt := range tests {
		if got := isFileInput(tt.in); got != tt.want {
			t.Errorf("isFileInput(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestStringRedactsSecrets(t *testing.T) {
	src := `stream "front" {
  input = "rtsp://admin:hunter2@cam/1"
  audio = "rtsp://mic:hunter3@cam/2"
  options = { passphrase = "hunter4", rtsp_transport = "tcp" }
  audio_options = { headers = "Authorization: Bearer hunter5" }
}
stream "rear" {
  input = "srt://cam:9000?mode=caller&passphrase=hunter6"
  audio = "async:http://cam/a.m3u8?token=hunter7"
}`
	cfg, err := Parse([]byte(src), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := cfg.String()
	for _, secret := range []string{"hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() shows %q:\n%s", secret, s)
		}
	}
	for _, kept := range []string{`"rtsp://xxxxx@cam/1"`, `"rtsp_transport" = "tcp"`, `"srt://cam:9000?mode=caller&passphrase=xxxxx"`} {
		if !strings.Contains(s, kept) {
			t.Errorf("String() lacks %s:\n%s", kept, s)
		}
	}
	if cfg.Streams[0].Input != "rtsp://admin:hunter2@cam/1" {
		t.Errorf("redaction changed the config itself: %q", cfg.Streams[0].Input)
	}
}

func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "new\nline\ttab\r", "${var}", "%{if}", "$$", "%", "ctl\x01", "ünï"} {
		c := Default()
		c.MQTT.StoreDir = s
		again, err := Parse([]byte(c.String()), "q.hcl")
		if err != nil {
			t.Errorf("store_dir %q: Parse(String()): %v", s, err)
			continue
		}
		if again.MQTT.StoreDir != s {
			t.Errorf("store_dir %q came back as %q", s, again.MQTT.StoreDir)
		}
	}
}
