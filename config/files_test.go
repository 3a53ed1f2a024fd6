package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var hclPosStart = hcl.InitialPos

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSecretsAreReadOnDemand(t *testing.T) {
	dir := secretFixture(t)
	key := filepath.Join(dir, "key")
	src := "mllm {\n  api_key_file = \"" + key + "\"\n}\nmqtt {\n  username = \"u\"\n  password_file = \"" + key + "\"\n}\n"
	cfg, err := Parse([]byte(src), "garssl.hcl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, err := cfg.MLLM.APIKey(); err != nil || got != "s3cr3t-token" {
		t.Errorf("APIKey() = %q, %v; want the trimmed file contents", got, err)
	}
	if got, err := cfg.MQTT.Password(); err != nil || got != "s3cr3t-token" {
		t.Errorf("Password() = %q, %v; want the trimmed file contents", got, err)
	}
	if s := cfg.String(); strings.Contains(s, "s3cr3t") {
		t.Errorf("String() shows the secret:\n%s", s)
	}
}

func TestSecretErrors(t *testing.T) {
	dir := secretFixture(t)
	if got, err := (MLLM{}).APIKey(); got != "" || err != nil {
		t.Errorf("APIKey() without a file = %q, %v; want no key and no error", got, err)
	}
	_, err := MLLM{APIKeyFile: filepath.Join(dir, "missing")}.APIKey()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("APIKey() of a missing file = %v, want fs.ErrNotExist", err)
	}
	if _, err := (MQTT{PasswordFile: filepath.Join(dir, "empty")}).Password(); err == nil {
		t.Errorf("Password() of an empty file succeeded")
	}
}

func TestSkipFileChecks(t *testing.T) {
	src := []byte("mllm {\n  api_key_file = \"/nonexistent/garssl/key\"\n}\n")
	if _, err := Parse(src, "garssl.hcl"); err == nil {
		t.Fatalf("Parse accepted a missing api_key_file with file checks on")
	}
	cfg, err := Parse(src, "garssl.hcl", SkipFileChecks())
	if err != nil {
		t.Fatalf("Parse with SkipFileChecks: %v", err)
	}
	// The option sticks to the config for later validation.
	if err := cfg.Override(Overrides{Model: "m"}); err != nil {
		t.Errorf("Override re-checked files despite SkipFileChecks: %v", err)
	}
}

func TestFileCheckRejectsNonRegularFiles(t *testing.T) {
	src := []byte("mllm {\n  api_key_file = \"/dev/null\"\n}\n")
	_, err := Parse(src, "garssl.hcl")
	want := `garssl.hcl:2:18: mllm.api_key_file "/dev/null" is a character device; name a regular file`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %q", err, want)
	}
}

func TestRangeOfFallsBackToTheEnclosingBlock(t *testing.T) {
	at := func(line int) hcl.Range { return hcl.Range{Filename: "f", Start: hcl.Pos{Line: line, Column: 1}} }
	m := &meta{origin: map[string]hcl.Range{"": at(1), "mllm": at(2), "mllm.endpoints": at(3), "stream.front": at(9)}}
	tests := []struct {
		path string
		line int
	}{
		{"mllm.endpoints[4]", 3},
		{"mllm.breaker.open_for", 2},
		{"stream.front.camera.hfov_deg", 9},
		{"gar.model_size", 1},
	}
	for _, tt := range tests {
		if r, ok := m.rangeOf(tt.path); !ok || r.Start.Line != tt.line {
			t.Errorf("rangeOf(%q) = line %d, %v; want line %d", tt.path, r.Start.Line, ok, tt.line)
		}
	}
	if _, ok := (*meta)(nil).rangeOf("gar"); ok {
		t.Errorf("rangeOf on a config built in code found a position")
	}
}

func TestNotATextFile(t *testing.T) {
	for name, src := range map[string][]byte{
		"NUL bytes":     []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"),
		"invalid UTF-8": []byte("node_id = \"\xff\xfe\"\n"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(src, "clip.mp4")
			want := "clip.mp4: not a text file; give an HCL config such as configs/garssld.hcl"
			if err == nil || err.Error() != want {
				t.Errorf("Parse = %v, want %q", err, want)
			}
		})
	}
}

func TestManyDiagnosticsAreCapped(t *testing.T) {
	var src strings.Builder
	for i := range 50 {
		fmt.Fprintf(&src, "bogus%d = 1\n", i)
	}
	_, err := Parse([]byte(src.String()), "many.hcl")
	var diags Diagnostics
	if !errors.As(err, &diags) || len(diags) != 50 {
		t.Fatalf("Parse = %v, want 50 diagnostics", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxShown+1 || lines[MaxShown] != "… and 30 more problems (50 in all)" {
		t.Errorf("Error() has %d lines ending %q; want %d diagnostics and a count", len(lines), lines[len(lines)-1], MaxShown)
	}
	if !strings.HasPrefix(lines[0], "many.hcl:1:1: ") {
		t.Errorf("first line %q", lines[0])
	}
}

func TestDeviceNodesAndSkippedChecksMayBeMissing(t *testing.T) {
	src := []byte("stream \"a\" {\n  input = \"/dev/video97\"\n  audio = \"/nonexistent/garssl/mic.wav\"\n}\n")
	if _, err := Parse(src, "garssl.hcl"); err == nil || strings.Contains(err.Error(), "video97") || !strings.Contains(err.Error(), "mic.wav") {
		t.Errorf("Parse = %v; want only the missing audio file reported", err)
	}
	if _, err := Parse(src, "garssl.hcl", SkipFileChecks()); err != nil {
		t.Errorf("Parse with SkipFileChecks: %v", err)
	}
}
