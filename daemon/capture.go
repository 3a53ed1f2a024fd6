package daemon

// What the daemon asks of capture and reads back from it: a live input is
// retried rather than ended (Service), files are read at their own rate
// (Realtime), and capture's counters become the stream's metrics.

import (
	"strconv"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/metrics"
)

// captureConfig maps a stream block onto capture. Live inputs retry
// whatever they meet (service mode); files are read at the media's rate
// unless realtime = false.
// frames asks for the camera frame the live view shows.
func captureConfig(c config.Stream, modelSize int, frames bool) capture.Config {
	return capture.Config{
		Name: c.Name, Input: c.Input, InputOptions: c.Options, Audio: c.Audio, AudioOptions: c.AudioOptions,
		ArrayChannels: arrayChannels(c.MicArray), SkipFrame: string(c.SkipFrame), Loop: c.Loop, Realtime: c.Realtime, Window: c.Window,
		StallTimeout: c.StallTimeout, ModelWidth: modelSize, ModelHeight: modelSize, Service: true,
		DecoderThreads: decoderThreads(c.DecoderThreads), Frames: frames,
		FramePick: string(c.FramePick), FrameTolerance: c.FrameTolerance,
	}
}

// arrayChannels are the microphone array's input channels; none without
// a mic_array block.
func arrayChannels(m *config.MicArray) []int {
	if m == nil {
		return nil
	}
	return m.Channels
}

// decoderThreads is FFmpeg's "threads" option for n: "" (auto) for 0.
func decoderThreads(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// sessionSnapshot is a capture session's counters, capture's and
// windowing's, as the metrics scrape wants them.
func sessionSnapshot(sess *session) metrics.StreamSnapshot {
	cs, ws := sess.src.Stats(), sess.sink.Stats()
	snap := metrics.StreamSnapshot{
		Packets: cs.Packets, DecodeErrors: cs.DecodeErrors, Reconnects: cs.Reconnects, Stalls: cs.Stalls,
		Windows: ws.Emitted, Dropped: ws.Dropped, SilenceFilledSamples: ws.SilenceFilled,
		VideoPacketsDecoded: cs.VideoPacketsDecoded, FullDecodeWindows: cs.FullDecodeWindows,
	}
	for _, n := range cs.Discontinuities {
		snap.Discontinuities += n
	}
	return snap
}
