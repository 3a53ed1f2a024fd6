package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/internal/synthbench"
	"github.com/garssl/garssld/internal/testmedia"
)

// TestFFmpegLogIsFlushedBeforeExit: the commands that route FFmpeg's log
// write out what it holds back (the count of folded messages, logged at
// the end of their second) before they return, while their stderr is
// still there; a process that exits sooner would lose it.
func TestFFmpegLogIsFlushedBeforeExit(t *testing.T) {
	dir := t.TempDir()
	image := testmedia.File(t, dir, "frame.png", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1")
	clip := testmedia.File(t, dir, "clip.mp4", append(testmedia.TestPattern(320, 240, 25, 6), "-c:v", "libx264", "-preset", "ultrafast")...)
	// An MP3 with garbage in sixty places: the decoder complains about
	// every damaged frame, in the tens of milliseconds it takes, far more
	// than the log lets through a second.
	sound := testmedia.File(t, dir, "sound.mp3", append(testmedia.Sine(0.5, 440, 44100, 1, 6), "-c:a", "libmp3lame")...)
	for i := range 60 {
		testmedia.Corrupt(t, sound, 0.05+0.015*float64(i), 64)
	}
	// A one-sample benchmark whose sound is that MP3.
	b := synthbench.Make(t, t.TempDir(), synthbench.Spec{Kind: "vggss", N: 1})
	id := b.IDs[0]
	if err := os.Remove(filepath.Join(b.Audio, id+".wav")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sound)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Audio, id+".mp3"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, endpoint := startSim(t, "", nil)

	for _, args := range [][]string{
		{"locate", "--image", image, "--audio", sound, "--endpoint", endpoint},
		{"dump", "--input", clip, "--audio", sound, "--out", t.TempDir()},
		{"eval", "--dataset", "vggss", "--annotations", b.Annotations, "--frames", b.Frames, "--audio", b.Audio,
			"--out", t.TempDir(), "--endpoint", endpoint},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "FFmpeg messages suppressed") {
				t.Errorf("%s returned without the count of suppressed FFmpeg messages:\n%s", args[0], stderr)
			}
		})
	}
}
