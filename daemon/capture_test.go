package daemon

import (
	"testing"
	"time"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/metrics"
)

// TestCaptureConfigDecoderThreads: stream.decoder_threads reaches FFmpeg's
// "threads" option, 0 as FFmpeg's automatic choice.
func TestCaptureConfigDecoderThreads(t *testing.T) {
	for _, tc := range []struct {
		threads int
		want    string
	}{
		{config.DefaultStream().DecoderThreads, "1"},
		{0, ""},
		{4, "4"},
	} {
		s := config.DefaultStream()
		s.Name, s.Input, s.DecoderThreads = "front", "udp://127.0.0.1:5000", tc.threads
		if got := captureConfig(s, 224, false).DecoderThreads; got != tc.want {
			t.Errorf("decoder_threads = %d: capture.Config.DecoderThreads = %q, want %q", tc.threads, got, tc.want)
		}
	}
}

// TestCaptureConfigFramePick: frame_pick and frame_tolerance reach capture,
// and the full-decode counts of two sessions add up by reason.
func TestCaptureConfigFramePick(t *testing.T) {
	s := config.DefaultStream()
	s.Name, s.Input = "front", "udp://127.0.0.1:5000"
	s.FramePick, s.FrameTolerance = config.FramePickNearestKey, 200*time.Millisecond
	if got := captureConfig(s, 224, false); got.FramePick != "nearest_key" || got.FrameTolerance != 200*time.Millisecond {
		t.Errorf("capture.Config frame pick %q, tolerance %v", got.FramePick, got.FrameTolerance)
	}
	sum := addSnapshot(
		metrics.StreamSnapshot{VideoPacketsDecoded: 3, FullDecodeWindows: map[string]uint64{"gop_too_long": 1}},
		metrics.StreamSnapshot{VideoPacketsDecoded: 4, FullDecodeWindows: map[string]uint64{"gop_too_long": 2, "open_gop": 1}})
	if sum.VideoPacketsDecoded != 7 || sum.FullDecodeWindows["gop_too_long"] != 3 || sum.FullDecodeWindows["open_gop"] != 1 {
		t.Errorf("summed %+v", sum)
	}
}
