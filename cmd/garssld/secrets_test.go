package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverPrinted sends secret-bearing URLs through every command
// that prints them: check (config values), dump (inputs, capture's state and
// FFmpeg's own log lines at debug level) and locate (endpoints). The secret
// S3CRET must appear in no output.
func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	n := 0
	config := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("c%d.hcl", n))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// locate reads its config before its media: these need only exist.
	image, sound := filepath.Join(dir, "x.png"), filepath.Join(dir, "x.wav")
	for _, f := range []string{image, sound} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"check: input that does not parse", []string{"check", "--config", config("stream \"a\" {\n  input = \"rtsp://admin:S3CRETpw@cam.local:abc/stream\"\n}\n")}, 2},
		{"check: bad escape", []string{"check", "--config", config("stream \"a\" {\n  input = \"rtsp://admin:S3%CRET@cam.local/stream\"\n}\n")}, 2},
		{"check: unclosed bracket", []string{"check", "--config", config("stream \"a\" {\n  audio = \"rtsp://admin:S3CRET@[::1/x\"\n  input = \"v4l2:\"\n}\n")}, 2},
		{"check: endpoint key in the query", []string{"check", "--config", config("mllm {\n  endpoints = [\"http://h/v1?api_key=S3CRET\"]\n}\n")}, 2},
		{"check: loop on a network input with a token", []string{"check", "--config", config("stream \"a\" {\n  input = \"http://cam/live.m3u8?token=S3CRET\"\n  loop = true\n}\n")}, 2},
		{"locate: endpoint key in the query", []string{"locate", "--image", image, "--audio", sound, "--endpoint", "http://127.0.0.1:1/v1?api_key=S3CRET"}, 2},
		{"locate: endpoint password", []string{"locate", "--image", image, "--audio", sound, "--endpoint", "http://u:S3CRET@127.0.0.1:1/v1"}, 2},
		{"dump: input that does not parse", []string{"dump", "--input", "rtsp://admin:S3CRET@cam.local:abc/s", "--out", dir}, 2},
		{"dump: refused connection", []string{"dump", "--log-level", "debug", "--input", "tcp://user:S3CRET@127.0.0.1:1?token=S3CRET", "--out", dir}, 1},
		{"dump: refused http with a token", []string{"dump", "--log-level", "debug", "--input", "http://user:S3CRET@127.0.0.1:1/live.m3u8?sig=S3CRET", "--out", dir}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if strings.Contains(stdout+stderr, "S3") {
				t.Errorf("the secret was printed:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
			if !strings.Contains(stderr, "xxxxx") && !strings.Contains(stderr, "names no device") {
				t.Errorf("nothing was redacted; did the value reach the output at all?\n%s", stderr)
			}
		})
	}
}
