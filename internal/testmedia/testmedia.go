// Package testmedia makes real media files for tests with the ffmpeg CLI, so
// that tests exercise FFmpeg's demuxers and decoders on what cameras and
// microphones produce rather than on hand-made bytes.
package testmedia

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FFmpeg runs the ffmpeg CLI with args and fails the test with its output
// if it fails. The ffmpeg binary is a declared test dependency (make deps),
// so its absence is a failure, not a skip.
func FFmpeg(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	cmd := exec.CommandContext(ctx, "ffmpeg", full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// File makes dir/name with ffmpeg args (the output path is appended) and
// returns its path.
func File(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	FFmpeg(t, append(args, path)...)
	return path
}

// Sine is a lavfi audio source of a sine of the given amplitude (full scale
// 1.0), frequency, rate, channel count and duration in seconds.
func Sine(amplitude, freq float64, rate, channels int, seconds float64) []string {
	expr := strings.Repeat(formatF(amplitude)+"*sin(2*PI*"+formatF(freq)+"*t)|", channels)
	return []string{"-f", "lavfi", "-i", "aevalsrc=" + strings.TrimSuffix(expr, "|") +
		":s=" + itoa(rate) + ":d=" + formatF(seconds)}
}

// TestPattern is a lavfi video source: FFmpeg's moving test pattern.
func TestPattern(w, h, fps int, seconds float64) []string {
	return []string{"-f", "lavfi", "-i", "testsrc2=s=" + itoa(w) + "x" + itoa(h) + ":r=" + itoa(fps) + ":d=" + formatF(seconds)}
}

// Args joins argument groups.
func Args(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// Corrupt overwrites n bytes of path starting at fraction at of its length
// with a fixed garbage pattern.
func Corrupt(t testing.TB, path string, at float64, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := int(float64(len(b)) * at)
	for i := start; i < start+n && i < len(b); i++ {
		b[i] = byte(i*131 + 7)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Truncate cuts path to fraction keep of its length.
func Truncate(t testing.TB, path string, keep float64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(fi.Size())*keep)); err != nil {
		t.Fatal(err)
	}
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago,
// for a test's live sender.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
