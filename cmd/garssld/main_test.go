package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/syncbuf"
	"github.com/garssl/garssld/internal/testmedia"
)

// run calls the CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	// Outputs several goroutines may write, as they may os.Stderr:
	// FFmpeg's log can report from a timer.
	var stdout, stderr syncbuf.Buffer
	code := mainCode(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"garssld", "go-astiav v0.16.0", "libavcodec 59.", "ffmpeg 5.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	good := testmedia.File(t, dir, "good.mp4", testmedia.Args(testmedia.TestPattern(640, 360, 25, 7),
		testmedia.Sine(0.5, 440, 48000, 2, 7), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	silent := testmedia.File(t, dir, "silent.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 4),
		[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
	notMedia := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(notMedia, []byte("these are not the frames you are looking for\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		windows  int
		inStderr string
	}{
		{"no flags", nil, 2, 0, "--input and --out are required"},
		{"model size not a multiple of 28", []string{"--input", good, "--model-size", "230"}, 2, 0, "multiple of 28"},
		{"missing file", []string{"--input", filepath.Join(dir, "nope.mp4")}, 2, 0, "nope.mp4"},
		{"no audio", []string{"--input", silent}, 2, 0, "no audio stream"},
		{"not media", []string{"--input", notMedia}, 2, 0, "Invalid data found"},
		{"refused live source", []string{"--input", "rtsp://127.0.0.1:1/cam"}, 1, 0, "Connection refused"},
		// FFmpeg logs the rejected value: 1,600 characters used to smash
		// go-astiav's 1 KiB log buffer and kill the process.
		{"long option value", []string{"--input", good, "--option", "probesize=" + strings.Repeat("9", 1600)}, 2, 0, "probesize"},
		{"good", []string{"--input", good}, 0, 2, ""},
		{"max windows", []string{"--input", good, "--max-windows", "1"}, 0, 1, ""},
		{"overlapping", []string{"--input", good, "--hop", "1s", "--model-size", "448x252"}, 0, 5, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"dump"}, tc.args...)
			if tc.args != nil {
				args = append(args, "--out", out)
			}
			code, stdout, stderr := run(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inStderr, stderr)
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("panic:\n%s", stderr)
			}
			metas, _ := filepath.Glob(filepath.Join(out, "w*.json"))
			if len(metas) != tc.windows {
				t.Fatalf("%d windows written, want %d", len(metas), tc.windows)
			}
			for _, m := range metas {
				var meta windowFile
				b, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &meta); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				base := strings.TrimSuffix(m, ".json")
				wav, err := os.Stat(base + ".wav")
				if err != nil || wav.Size() != int64(44+2*meta.Samples) || meta.Samples != 48000 {
					t.Errorf("%s: WAV %v / %d samples, want 48000 samples in %d bytes", base, err, meta.Samples, 44+2*48000)
				}
				if _, err := os.Stat(base + ".jpg"); err != nil {
					t.Error(err)
				}
				if meta.Width != 640 || meta.Height != 360 || meta.ModelWidth%28 != 0 || meta.ModelHeight%28 != 0 {
					t.Errorf("%s: sizes %+v", base, meta)
				}
			}
		})
	}
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	image := testmedia.File(t, dir, "frame.png", "-f", "lavfi", "-i", "testsrc2=s=640x480:d=1", "-frames:v", "1")
	audio := testmedia.File(t, dir, "sound.wav", testmedia.Sine(0.5, 440, 44100, 2, 5)...)
	_, endpoint := startSim(t, "", nil)

	compiler := jsonschema.NewCompiler()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gar.DetectionSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := compiler.AddResource("detection.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := compiler.Compile("detection.json")
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"missing image", []string{"--image", filepath.Join(dir, "nope.jpg"), "--audio", audio, "--endpoint", endpoint}, 2, "nope.jpg"},
		{"audio is not audio", []string{"--image", image, "--audio", image, "--endpoint", endpoint}, 2, "no audio stream"},
		{"bad model size", []string{"--image", image, "--audio", audio, "--endpoint", endpoint, "--model-size", "100"}, 2, "multiple of 28"},
		{"unreachable model server", []string{"--image", image, "--audio", audio, "--endpoint", "http://127.0.0.1:1/v1"}, 1, "http://127.0.0.1:1/v1"},
		{"ok", []string{"--image", image, "--audio", audio, "--endpoint", endpoint, "--hfov", "90"}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"locate"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.inStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inStderr, stderr)
			}
			if tc.code != 0 {
				return
			}
			var d gar.Detection
			if err := json.Unmarshal([]byte(stdout), &d); err != nil {
				t.Fatalf("stdout is not a detection: %v\n%s", err, stdout)
			}
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(stdout))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Errorf("payload does not match the schema: %v", err)
			}
			if d.Status != gar.StatusOK || len(d.Sources) != 1 || d.Frame.Width != 640 || d.Frame.ModelWidth != 224 {
				t.Errorf("detection %+v", d)
			}
			if d.Sources[0].BearingDeg == nil {
				t.Error("no bearing with --hfov")
			}
			if d.GAR.Requests < 3 || d.GAR.ValidTrials == 0 {
				t.Errorf("gar info %+v", d.GAR)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("gar {\n  model_size = 230\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "check", "--config", bad)
	if want := bad + ":2:16: gar.model_size = 230 is not a multiple of 28; use 224, 252, 280, …\n"; code != 2 || stderr != want {
		t.Errorf("bad config: exit %d, stderr %q; want 2 and exactly %q", code, stderr, want)
	}

	// A clip given by mistake: one line, not a diagnostic per byte.
	clip := testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 2),
		[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
	code, _, stderr = run(t, "check", "--config", clip)
	if want := clip + ": not a text file; give an HCL config such as configs/garssld.hcl\n"; code != 2 || stderr != want {
		t.Errorf("binary config: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}

	// mllm.timeout ≥ stale_after: a warning with its position, and still ok.
	tests := []struct{ name, src, at, says string }{
		{"default timeout", "stream \"a\" {\n  input = \"rtsp://cam/1\"\n  stale_after = \"5s\"\n}\n",
			":3:17: warning: ", "mllm.timeout = 20s is not shorter than stream.a.stale_after = 5s"},
		{"timeout set", "mllm {\n  timeout = \"10s\"\n}\nstream \"a\" {\n  input = \"rtsp://cam/1\"\n}\n",
			":2:13: warning: ", "mllm.timeout = 10s is not shorter than stream.a.stale_after = 10s"},
		{"shorter timeout", "mllm {\n  timeout = \"8s\"\n}\nstream \"a\" {\n  input = \"rtsp://cam/1\"\n}\n", "", ""},
	}
	for _, tt := range tests {
		file := filepath.Join(dir, "warn.hcl")
		if err := os.WriteFile(file, []byte(tt.src), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run(t, "check", "--config", file)
		if code != 0 || !strings.Contains(stdout, "ok") {
			t.Errorf("%s: exit %d, stdout %q: a warning must not fail the check", tt.name, code, stdout)
		}
		if tt.at == "" {
			if stderr != "" {
				t.Errorf("%s: stderr %q, want nothing", tt.name, stderr)
			}
			continue
		}
		if !strings.HasPrefix(stderr, file+tt.at) || !strings.Contains(stderr, tt.says) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: stderr %q, want one line at %s saying %q", tt.name, stderr, tt.at, tt.says)
		}
	}

	// The demo runs from the top of the repository, where its input is.
	t.Chdir("../..")
	code, stdout, stderr := run(t, "check", "--config", "configs/demo.hcl")
	if code != 0 || !strings.Contains(stdout, "ok") {
		t.Errorf("demo config: exit %d\n%s%s", code, stdout, stderr)
	}
}
