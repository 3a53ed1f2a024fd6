package daemon

import (
	"testing"

	"github.com/garssl/garssld/config"
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
