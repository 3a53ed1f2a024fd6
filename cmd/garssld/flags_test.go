package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/windowing"
)

// TestFlagsFollowTheConfigRules: every flag that stands for a config
// attribute is refused with that attribute's message, the flag named in
// place of the path, and exit 2.
func TestFlagsFollowTheConfigRules(t *testing.T) {
	dir := t.TempDir()
	clip := testmedia.File(t, dir, "clip.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 25, 4),
		testmedia.Sine(0.5, 440, 48000, 1, 4), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"})...)
	image := testmedia.File(t, dir, "frame.png", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1")
	sound := testmedia.File(t, dir, "sound.wav", testmedia.Sine(0.5, 440, 16000, 1, 2)...)
	out := filepath.Join(dir, "out")
	dump := func(extra ...string) []string {
		return append([]string{"dump", "--input", clip, "--out", out}, extra...)
	}
	locate := func(extra ...string) []string {
		return append([]string{"locate", "--image", image, "--audio", sound, "--endpoint", "http://127.0.0.1:1/v1"}, extra...)
	}
	tests := []struct {
		args []string
		want string
	}{
		{dump("--window", "31s"), "--window = 31s is too long; use at most 30s"},
		{dump("--model-size", "1820"), "--model-size = 1820 is out of range; use a multiple of 28 from 28 to 1792"},
		{dump("--model-size", "448x1820"), "--model-size height = 1820 is out of range; use a multiple of 28 from 28 to 1792"},
		{dump("--stall-timeout", "-1s"), "--stall-timeout = -1s must be greater than 0"},
		{dump("--log-level", "bogus"), `--log-level "bogus" is not one of "trace", "debug", "info", "warn", "error"`},
		{dump("--skip-frame", "all"), `--skip-frame "all" is not one of "", "noref", "nokey"`},
		{dump("--hop", "1ns"), "--hop = 1ns is not a whole number of 16 kHz samples"},
		{[]string{"dump", "--input", "v4l2:", "--out", out}, `--input "v4l2:" names no device`},
		{[]string{"dump", "--input", clip, "--audio", "alsa:", "--out", out}, `--audio "alsa:" names no device`},
		{locate("--window", "0"), "--window = 0s must be greater than 0"},
		{locate("--window", "-3s"), "--window = -3s must be greater than 0"},
		{locate("--window", "1ns"), "--window = 1ns is too short to hear anything; use at least 500ms"},
		{locate("--window", "1h"), "--window = 1h0m0s is too long; use at most 30s"},
		{locate("--hfov", "180"), "--hfov = 180 is out of range; use a value above 0 and below 180 degrees"},
		{locate("--hfov", "1e308"), "--hfov = 1e+308 is out of range"},
		{locate("--hfov", "-5"), "--hfov = -5 is out of range"},
		{locate("--hfov", "NaN"), "--hfov = NaN is out of range"},
		{locate("--hfov", "0"), "--hfov = 0 is out of range"},
		{locate("--log-level", "bogus"), `--log-level "bogus" is not one of`},
		{locate("--model-size", "1820"), "--model-size = 1820 is out of range"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[len(tt.args)-2:], " "), func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q for a refused flag", stdout)
			}
		})
	}
}

func TestLocateAudioLength(t *testing.T) {
	dir := t.TempDir()
	image := testmedia.File(t, dir, "frame.png", "-f", "lavfi", "-i", "testsrc2=s=640x480:d=1", "-frames:v", "1")
	oneSample := filepath.Join(dir, "one.wav")
	if err := os.WriteFile(oneSample, windowing.EncodeWAV([]int16{1000}), 0o644); err != nil {
		t.Fatal(err)
	}
	short := testmedia.File(t, dir, "short.wav", testmedia.Sine(0.5, 440, 16000, 1, 1)...)
	_, endpoint := startSim(t, "", nil)

	// The resampler's delay line may keep a sample or so of so short a
	// sound; what matters is the refusal, the file and its length.
	code, _, stderr := run(t, "locate", "--image", image, "--audio", oneSample, "--endpoint", endpoint)
	for _, want := range []string{"--audio " + oneSample + " holds 0.000 s of sound (", "give at least 500ms"} {
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("1-sample WAV: exit %d, stderr %q; want 2 and %q", code, stderr, want)
		}
	}

	// One second of sound becomes a whole 3 s window, its middle second
	// sound and the rest silence, and the window spans 3 s.
	code, stdout, stderr := run(t, "locate", "--image", image, "--audio", short, "--endpoint", endpoint)
	if code != 0 {
		t.Fatalf("1 s WAV: exit %d\n%s", code, stderr)
	}
	var d gar.Detection
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	if span := d.Window.End.Sub(d.Window.Start); span != 3*time.Second || d.Window.PTSEndS-d.Window.PTSStartS != 3 {
		t.Errorf("window %+v spans %s, want 3s", d.Window, span)
	}
	// A 440 Hz sine at half scale is −9 dBFS; a third of it, about −13.8.
	if d.Audio.RMSDBFS < -15 || d.Audio.RMSDBFS > -12.5 {
		t.Errorf("rms %v dBFS; want the sound padded to 3 s with silence (about −13.8)", d.Audio.RMSDBFS)
	}
}

// TestLocateErrorSaysItOnce: a failing model server gives one error line
// that names the request once and does not repeat itself.
func TestLocateErrorSaysItOnce(t *testing.T) {
	dir := t.TempDir()
	image := testmedia.File(t, dir, "frame.png", "-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1")
	sound := testmedia.File(t, dir, "sound.wav", testmedia.Sine(0.5, 440, 16000, 1, 3)...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(`{"object":"error","message":"upstream gone"}`))
	}))
	t.Cleanup(srv.Close)
	code, _, stderr := run(t, "locate", "--image", image, "--audio", sound, "--endpoint", srv.URL+"/v1", "--log-level", "error")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	line := strings.TrimSpace(stderr)
	if strings.Count(line, "/locate/1/locate") != 1 || strings.Count(line, "HTTP 502: upstream gone") != 1 || strings.Contains(line, "\n") {
		t.Errorf("error %q; want one line naming the request and the failure once", line)
	}
}

// dump decodes a GOP-aware pick on one thread (its bursts gain nothing
// from frame threads and pay a flush per window), a full decode on
// FFmpeg's automatic threads.
func TestDumpDecoderThreads(t *testing.T) {
	for pick, want := range map[string]string{"exact": "1", "nearest_key": "1", "all": "auto"} {
		if got := dumpDecoderThreads(pick); got != want {
			t.Errorf("--frame-pick %s: %q decoder threads, want %q", pick, got, want)
		}
	}
}
