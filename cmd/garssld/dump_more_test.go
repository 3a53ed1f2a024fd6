package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/internal/testmedia"
)

func TestDumpTellsWhatHappened(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 7),
		testmedia.Sine(0.5, 440, 48000, 1, 7), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	// One key frame for the whole clip: with nokey no window has a picture
	// near its centre.
	longGOP := testmedia.File(t, dir, "gop.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 7),
		testmedia.Sine(0.5, 440, 48000, 1, 7), []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "1000",
			"-keyint_min", "1000", "-sc_threshold", "0", "-c:a", "aac", "-shortest"})...)
	notMedia := filepath.Join(dir, "notes.mp4")
	if err := os.WriteFile(notMedia, []byte("not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("an earlier dump's files are removed, nothing else", func(t *testing.T) {
		out := t.TempDir()
		for _, name := range []string{"w000009.json", "w000009.jpg", "w000009.wav", "w1.json", "notes.txt", "w000001.json.bak"} {
			if err := os.WriteFile(filepath.Join(out, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := run(t, "dump", "--input", clip, "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stdout, "removed 3 files of an earlier dump from "+out) {
			t.Errorf("stdout does not say what was removed:\n%s", stdout)
		}
		for _, gone := range []string{"w000009.json", "w000009.jpg", "w000009.wav"} {
			if _, err := os.Stat(filepath.Join(out, gone)); !os.IsNotExist(err) {
				t.Errorf("%s is still there", gone)
			}
		}
		for _, kept := range []string{"w1.json", "notes.txt", "w000001.json.bak", "w000002.json"} {
			if _, err := os.Stat(filepath.Join(out, kept)); err != nil {
				t.Errorf("%s: %v", kept, err)
			}
		}
	})

	t.Run("stopping early is not a decode error", func(t *testing.T) {
		code, stdout, stderr := run(t, "dump", "--input", clip, "--out", t.TempDir(), "--max-windows", "1")
		if code != 0 || !strings.Contains(stdout, "1 windows written") || !strings.Contains(stdout, "decode errors: 0;") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("an unwritable output stops early without decode errors", func(t *testing.T) {
		out := t.TempDir()
		// A directory where the first JPEG goes makes its write fail.
		if err := os.Mkdir(filepath.Join(out, "w000001.jpg"), 0o755); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run(t, "dump", "--input", clip, "--out", out)
		if code != 1 || !strings.Contains(stderr, "write window 1") || !strings.Contains(stdout, "decode errors: 0;") {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("an input error prints no summary", func(t *testing.T) {
		code, stdout, stderr := run(t, "dump", "--input", notMedia, "--out", t.TempDir())
		if code != 2 || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", code, stdout, stderr)
		}
	})

	t.Run("no_frame is named as the cause", func(t *testing.T) {
		code, _, stderr := run(t, "dump", "--input", longGOP, "--out", t.TempDir(), "--skip-frame", "nokey", "--frame-pick", "all")
		if code != 1 || !strings.Contains(stderr, "dropped as no_frame") || !strings.Contains(stderr, "--skip-frame nokey decodes key frames only") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if strings.Contains(stderr, "shorter than one window") {
			t.Errorf("blames the clip's length:\n%s", stderr)
		}
	})
}
