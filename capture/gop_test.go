package capture_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/windowing"
)

// lumaClip makes a 30 fps clip whose luma is its frame number (times 7,
// modulo 256), so that two decodes of the same frame give the same picture
// and two different frames do not, with a sine for sound. vf filters the
// frames (after the numbering), venc chooses the encoder.
func lumaClip(t *testing.T, dir, name string, seconds float64, vf string, venc ...string) string {
	t.Helper()
	src := "color=c=black:s=160x96:r=30:d=" + strconv.FormatFloat(seconds, 'f', -1, 64) +
		",geq=lum='mod(N*7\\,256)':cb=128:cr=128"
	if vf != "" {
		src += "," + vf
	}
	args := testmedia.Args([]string{"-f", "lavfi", "-i", src}, testmedia.Sine(0.3, 440, 16000, 1, seconds),
		venc, []string{"-fps_mode", "passthrough", "-c:a", "aac"})
	return testmedia.File(t, dir, name, args...)
}

func x264(gop, bframes int) []string {
	return []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop),
		"-sc_threshold", "0", "-bf", strconv.Itoa(bframes)}
}

func x265(gop, bframes int, openGOP bool) []string {
	og := "0"
	if openGOP {
		og = "1"
	}
	return []string{"-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
		"log-level=error:keyint=" + strconv.Itoa(gop) + ":min-keyint=" + strconv.Itoa(gop) +
			":scenecut=0:bframes=" + strconv.Itoa(bframes) + ":open-gop=" + og}
}

// decodeWith reads path to its end with frame_pick pick and returns the
// windows and the source's counters.
func decodeWith(t *testing.T, path, pick string, threads string, hop time.Duration) ([]windowing.Window, capture.Stats) {
	t.Helper()
	c := newCollector(t, capture.Config{Name: "cam", Input: path, FramePick: pick, DecoderThreads: threads}, 3*time.Second, hop)
	if err := c.run(t, 2*time.Minute); err != nil {
		t.Fatalf("%s: %v", pick, err)
	}
	return c.snapshot(), c.source.Stats()
}

// sameWindows fails unless got has the same windows as want, with the
// same frames, byte for byte.
func sameWindows(t *testing.T, want, got []windowing.Window) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d windows, a full decode gives %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Seq != w.Seq || g.FramePTS != w.FramePTS || !bytes.Equal(g.JPEG, w.JPEG) {
			t.Errorf("window %d: frame at %v (%d JPEG bytes), a full decode takes the frame at %v (%d bytes, equal %v)",
				w.Seq, g.FramePTS, len(g.JPEG), w.FramePTS, len(w.JPEG), bytes.Equal(g.JPEG, w.JPEG))
		}
	}
}

func TestExactPictureIsTheFullDecodes(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		seconds float64
		vf      string
		enc     []string
		hop     time.Duration
		cheaper bool // the exact decode must leave packets undecoded
	}{
		{"h264 1s GOP", 13, "", x264(30, 0), 3 * time.Second, true},
		{"h264 2s GOP", 13, "", x264(60, 0), 3 * time.Second, true},
		{"h264 4s GOP", 25, "", x264(120, 0), 3 * time.Second, true},
		{"h264 4s GOP hop 1s", 25, "", x264(120, 0), time.Second, false},
		{"h264 B-frames 1s GOP", 13, "", x264(30, 3), 3 * time.Second, true},
		{"h264 B-frames 2s GOP", 13, "", x264(60, 2), 3 * time.Second, true},
		{"h264 key frame at the centre", 13, "", x264(45, 0), 3 * time.Second, true},
		{"h264 B-frames key frame at the centre", 13, "", x264(45, 2), 3 * time.Second, true},
		// The camera stalls from 4.2 s to 4.9 s: the frame before the hole
		// is the nearest the centre at 4.5 s.
		{"h264 stalled at the centre", 13, "select='not(between(t\\,4.2\\,4.9))'", x264(30, 0), 3 * time.Second, true},
		{"h264 B-frames stalled at the centre", 13, "select='not(between(t\\,4.2\\,4.9))'", x264(60, 2), 3 * time.Second, true},
		{"h264 joined mid-GOP", 0, "", nil, 3 * time.Second, true},
		{"hevc 1s GOP", 13, "", x265(30, 0, false), 3 * time.Second, true},
		{"hevc B-frames 2s GOP", 13, "", x265(60, 3, false), 3 * time.Second, true},
		{"hevc open GOP B-frames 1s GOP", 13, "", x265(30, 3, true), 3 * time.Second, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			if tc.enc == nil {
				// Stream copy from 1 s in, keeping the frames before the
				// first key frame (at 2 s), as a receiver joining a
				// broadcast sees them.
				whole := lumaClip(t, dir, "whole.ts", 14, "", x264(60, 0)...)
				path = testmedia.File(t, dir, "mid.ts", "-ss", "1", "-i", whole, "-c", "copy", "-copyinkf")
			} else {
				path = lumaClip(t, dir, "c"+strconv.Itoa(i)+".ts", tc.seconds, tc.vf, tc.enc...)
			}
			want, all := decodeWith(t, path, capture.FramePickAll, "", tc.hop)
			got, exact := decodeWith(t, path, capture.FramePickExact, "", tc.hop)
			if len(want) < 3 {
				t.Fatalf("only %d windows", len(want))
			}
			sameWindows(t, want, got)
			if exact.DecodeErrors != all.DecodeErrors {
				t.Errorf("%d decode errors, a full decode meets %d", exact.DecodeErrors, all.DecodeErrors)
			}
			t.Logf("decoded %d of %d video packets", exact.VideoPacketsDecoded, all.VideoPacketsDecoded)
			if tc.cheaper && exact.VideoPacketsDecoded*10 > all.VideoPacketsDecoded*8 {
				t.Errorf("decoded %d of %d video packets", exact.VideoPacketsDecoded, all.VideoPacketsDecoded)
			}
			if len(exact.FullDecodeWindows) != 0 {
				t.Errorf("full decodes %v", exact.FullDecodeWindows)
			}
		})
	}
}

// A stream joined mid-GOP, or with key frames further apart than the
// buffer holds, is decoded in full where it must be, counted by reason, and
// still gives a full decode's pictures.
func TestFullDecodeFallbacksAreCounted(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		path   func() string
		reason string
	}{
		{"intra refresh", func() string {
			return lumaClip(t, dir, "ir.ts", 14, "", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
				"-x264-params", "intra-refresh=1:keyint=30")
		}, capture.FullNoKeyframe},
		{"GOP longer than the buffer", func() string {
			return lumaClip(t, dir, "long.ts", 26, "", x264(360, 0)...)
		}, capture.FullGOPTooLong},
		{"open GOPs too long for two in the buffer", func() string {
			return lumaClip(t, dir, "open.ts", 20, "", x265(180, 3, true)...)
		}, capture.FullOpenGOP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path()
			want, _ := decodeWith(t, path, capture.FramePickAll, "", 3*time.Second)
			got, st := decodeWith(t, path, capture.FramePickExact, "", 3*time.Second)
			sameWindows(t, want, got)
			if st.FullDecodeWindows[tc.reason] == 0 {
				t.Errorf("no window counted as %s: %v", tc.reason, st.FullDecodeWindows)
			}
		})
	}
}

// A demuxer that flags no key frame (libavformat's own demuxers restore
// H.264's flags from the parser, so the packets lose them here, as a
// careless RTP depacketiser would leave them): the decoder's key frames
// give it away, and the stream is decoded in full, counted as
// no_keyframe_flags, with a full decode's pictures.
func TestUnflaggedKeyFramesAreDecodedInFull(t *testing.T) {
	dir := t.TempDir()
	path := lumaClip(t, dir, "unflagged.ts", 13, "", x264(30, 0)...)
	unflag := func(p *astiav.Packet) { p.SetFlags(p.Flags().Del(astiav.PacketFlagKey)) }
	decode := func(pick string) ([]windowing.Window, capture.Stats) {
		cfg := capture.WithPacketHook(capture.Config{Name: "cam", Input: path, FramePick: pick}, unflag)
		c := newCollector(t, cfg, 3*time.Second, 3*time.Second)
		if err := c.run(t, 2*time.Minute); err != nil {
			t.Fatalf("%s: %v", pick, err)
		}
		return c.snapshot(), c.source.Stats()
	}
	want, all := decode(capture.FramePickAll)
	got, exact := decode(capture.FramePickExact)
	if len(want) < 3 {
		t.Fatalf("only %d windows", len(want))
	}
	sameWindows(t, want, got)
	if n := exact.FullDecodeWindows[capture.FullNoKeyframeFlags]; n != uint64(len(got)) {
		t.Errorf("%d of %d windows counted as %s: %v", n, len(got), capture.FullNoKeyframeFlags, exact.FullDecodeWindows)
	}
	if exact.VideoPacketsDecoded != all.VideoPacketsDecoded {
		t.Errorf("decoded %d of %d video packets, want all", exact.VideoPacketsDecoded, all.VideoPacketsDecoded)
	}
}

// nearest_key on a 1 s GOP decodes one frame per window (with one decoder
// thread, which outputs a frame as soon as it has its packet): a clip 15 s
// longer costs five more windows and five more decoded frames. Each frame
// is a key frame within the tolerance of its window's centre.
func TestNearestKeyDecodesOneFramePerWindow(t *testing.T) {
	dir := t.TempDir()
	var windows, decoded [2]int
	for i, seconds := range []float64{16, 31} {
		path := lumaClip(t, dir, "k"+strconv.Itoa(i)+".ts", seconds, "", x264(30, 0)...)
		got, st := decodeWith(t, path, capture.FramePickNearestKey, "1", 3*time.Second)
		for _, w := range got {
			centre := (w.PTSStart + w.PTSEnd) / 2
			if d := w.FramePTS - centre; d > capture.DefaultFrameTolerance || d < -capture.DefaultFrameTolerance || w.JPEG == nil {
				t.Errorf("window %d: frame at %v, centre %v", w.Seq, w.FramePTS, centre)
			}
			// Key frames lie whole seconds apart; the first window's
			// picture comes from the full decode of a session's start.
			if w.Seq > 2 && (w.FramePTS-got[1].FramePTS)%time.Second != 0 {
				t.Errorf("window %d: frame at %v is no key frame (window 2's is at %v)", w.Seq, w.FramePTS, got[1].FramePTS)
			}
		}
		windows[i], decoded[i] = len(got), int(st.VideoPacketsDecoded)
	}
	t.Logf("windows %v, decoded packets %v", windows, decoded)
	if windows[1]-windows[0] != 5 || decoded[1]-decoded[0] != 5 {
		t.Errorf("15 s more media gave %d more windows and %d more decoded frames, want 5 and 5",
			windows[1]-windows[0], decoded[1]-decoded[0])
	}
}
