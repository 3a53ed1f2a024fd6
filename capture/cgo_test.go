package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/internal/syncbuf"
	"github.com/garssl/garssld/internal/testmedia"
)

// TestFormatContextLayout guards the cast in formatContext: it must find
// the AVFormatContext that go-astiav reports on, and refuse memory that is
// not one.
func TestFormatContextLayout(t *testing.T) {
	if got, want := unsafe.Sizeof(astiav.FormatContext{}), unsafe.Sizeof(uintptr(0)); got != want {
		t.Fatalf("go-astiav's FormatContext is %d bytes, not one pointer (%d): the cast in format_cgo.go is wrong", got, want)
	}
	dir := t.TempDir()
	path := testmedia.File(t, dir, "a.ts", testmedia.Args(testmedia.TestPattern(160, 120, 25, 1),
		testmedia.Sine(0.5, 440, 48000, 1, 1), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-output_ts_offset", "10", "-f", "mpegts"})...)
	fc := astiav.AllocFormatContext()
	defer fc.Free()
	if err := fc.OpenInput(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	defer fc.CloseInput()
	if err := fc.FindStreamInfo(nil); err != nil {
		t.Fatal(err)
	}
	p, err := formatContext(fc)
	if err != nil {
		t.Fatalf("formatContext: %v", err)
	}
	if int(p.nb_streams) != 2 || int64(p.duration) != fc.Duration() || int64(p.start_time) != fc.StartTime() || fc.StartTime() < 11*int64(astiav.TimeBase) {
		t.Errorf("the cast reads %d streams, duration %d, start %d; go-astiav says %d, %d, %d",
			p.nb_streams, p.duration, p.start_time, fc.NbStreams(), fc.Duration(), fc.StartTime())
	}
	for i := range 2 {
		if bits, err := wrapBits(fc, i); err != nil || bits != 33 {
			t.Errorf("stream %d of an MPEG-TS wraps at %d bits (%v), want 33", i, bits, err)
		}
	}
	if _, ok, err := startTimeRealtime(fc); ok || err != nil {
		t.Errorf("a file has a start_time_realtime (%v, %v)", ok, err)
	}

	// A FormatContext whose pointer is not an AVFormatContext is refused.
	fake := astiav.FormatContext{}
	*(*unsafe.Pointer)(unsafe.Pointer(&fake)) = unsafe.Pointer(&[64]int64{})
	if _, err := formatContext(&fake); !errors.Is(err, errLayout) {
		t.Errorf("a fake context gave %v, want errLayout", err)
	}
}

func routeLogs(t *testing.T) *syncbuf.Buffer {
	t.Helper()
	out := &syncbuf.Buffer{}
	RouteFFmpegLogs(hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Warn, DisableTime: true}))
	t.Cleanup(func() { RouteFFmpegLogs(hclog.NewNullLogger()) })
	return out
}

func waitLog(t *testing.T, out *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFFmpegLogLongLine: one FFmpeg log line of 10,000 characters (a long
// option value, a signed URL) is logged, cut, without overflowing anything.
// go-astiav's own callback smashes the stack here.
func TestFFmpegLogLongLine(t *testing.T) {
	out := routeLogs(t)
	ffmpegLogger.mu.Lock()
	ffmpegLogger.windowStart = time.Time{}
	ffmpegLogger.mu.Unlock()
	astiav.Log(nil, astiav.LogLevelError, "long: %s\n", strings.Repeat("x", 10000))
	waitLog(t, out, "…truncated")
	line := out.String()
	if n := strings.Count(line, "x"); n < 900 || n > 1024 {
		t.Errorf("the record holds %d of the 10,000 characters, want the first ~1,000", n)
	}
}

// TestFFmpegLogJoinsPieces: FFmpeg writes one message in several calls
// ("Packet corrupt (…)" then "."), and some messages span lines; each
// becomes one record.
func TestFFmpegLogJoinsPieces(t *testing.T) {
	out := routeLogs(t)
	f := ffmpegLogger
	now := time.Now().Add(time.Hour) // a fresh rate window
	f.piece(1, astiav.LogLevelWarning, "Packet corrupt (stream = 0, dts = 3722400)", false, now)
	f.piece(2, astiav.LogLevelError, "first line\nsecond line\n", false, now)
	f.piece(1, astiav.LogLevelWarning, ".\n", false, now)
	f.piece(3, astiav.LogLevelWarning, "never ended", false, now)
	waitLog(t, out, "never ended") // written out by the flush timer
	got := out.String()
	for _, want := range []string{"Packet corrupt (stream = 0, dts = 3722400).", "first line; second line"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("%d records, want 3:\n%s", n, got)
	}
}

// TestFFmpegLogSummaryOnATimer: the count of suppressed messages is
// logged when their second is over, even if FFmpeg says nothing more.
func TestFFmpegLogSummaryOnATimer(t *testing.T) {
	out := routeLogs(t)
	now := time.Now()
	ffmpegLogger.mu.Lock()
	ffmpegLogger.windowStart = time.Time{}
	ffmpegLogger.mu.Unlock()
	for i := range ffmpegLinesPerSecond + 7 {
		ffmpegLogger.write(astiav.LogLevelWarning, "corrupt macroblock "+string(rune('a'+i)), now)
	}
	waitLog(t, out, "count=7")
	if n := strings.Count(out.String(), "corrupt macroblock"); n != ffmpegLinesPerSecond {
		t.Errorf("%d messages logged, want %d", n, ffmpegLinesPerSecond)
	}
}

// TestRotationLikeTheCLI: a clip whose display matrix says rotate=90 (as
// phones and body cameras write) comes out upright, as `ffmpeg -i clip.mp4
// frame.png` shows it, with the displayed size reported.
func TestRotationLikeTheCLI(t *testing.T) {
	dir := t.TempDir()
	sound := testmedia.File(t, dir, "s.wav", testmedia.Sine(0.5, 440, 16000, 1, 1)...)
	// Coded 320×240 in quadrants, red, blue / green, white, so that every
	// turn and mirror shows.
	src := []string{"-f", "lavfi", "-i", "color=red:s=160x120:d=1[a];color=blue:s=160x120:d=1[b];color=green:s=160x120:d=1[c];" +
		"color=white:s=160x120:d=1[d];[a][b]hstack[t];[c][d]hstack[u];[t][u]vstack,format=yuv420p"}
	for _, tc := range []struct {
		rotate string
		w, h   int
	}{{"90", 240, 320}, {"270", 240, 320}, {"180", 320, 240}, {"0", 320, 240}} {
		t.Run("rotate="+tc.rotate, func(t *testing.T) {
			coded := testmedia.File(t, dir, "c"+tc.rotate+".mp4", append(src, "-frames:v", "10", "-c:v", "libx264", "-preset", "ultrafast")...)
			// FFmpeg 5.1 turns rotate metadata into a display matrix when
			// it copies a stream.
			clip := testmedia.File(t, dir, "r"+tc.rotate+".mp4", "-i", coded, "-c", "copy", "-metadata:s:v:0", "rotate="+tc.rotate)
			cli := testmedia.File(t, dir, "cli"+tc.rotate+".png", "-i", clip, "-frames:v", "1")
			st, err := LoadStill(clip, sound, 224, 224)
			if err != nil {
				t.Fatal(err)
			}
			if st.Picture.Width != tc.w || st.Picture.Height != tc.h {
				t.Errorf("reported %dx%d, want the displayed %dx%d", st.Picture.Width, st.Picture.Height, tc.w, tc.h)
			}
			ours, err := jpeg.Decode(bytes.NewReader(st.Picture.JPEG))
			if err != nil {
				t.Fatal(err)
			}
			if b := ours.Bounds(); b.Dx() != 224 || b.Dy() != 224 {
				t.Errorf("JPEG is %v, want 224x224", b)
			}
			theirs := decodePNG(t, cli)
			if tw, th := theirs.Bounds().Dx(), theirs.Bounds().Dy(); tw != tc.w || th != tc.h {
				t.Fatalf("the CLI shows %dx%d; the test's expectation %dx%d is wrong", tw, th, tc.w, tc.h)
			}
			for _, q := range [][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}} {
				if a, b := colourAt(ours, q[0], q[1]), colourAt(theirs, q[0], q[1]); a != b {
					t.Errorf("at (%.2f, %.2f) of the picture garssld shows %s, the ffmpeg CLI %s", q[0], q[1], a, b)
				}
			}
		})
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// colourAt names the dominant colour at a relative position of img.
func colourAt(img image.Image, fx, fy float64) string {
	b := img.Bounds()
	r, g, bl, _ := img.At(b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))).RGBA()
	switch {
	case r > 2*bl && r > 2*g:
		return "red"
	case bl > 2*r && bl > 2*g:
		return "blue"
	case g > 2*r && g > 2*bl:
		return "green"
	case r > 0xc000 && g > 0xc000 && bl > 0xc000:
		return "white"
	}
	return "mixed"
}

// TestFramesForTheView: with Config.Frames each picture also carries the
// upright camera frame at most media.FrameMaxWidth wide, aspect kept, and
// without it none (the view's second encode costs CPU).
func TestFramesForTheView(t *testing.T) {
	dir := t.TempDir()
	sound := testmedia.File(t, dir, "s.wav", testmedia.Sine(0.5, 440, 16000, 1, 1)...)
	quadrants := func(w, h int) string {
		s := fmt.Sprintf("s=%dx%d:d=1", w/2, h/2)
		return "color=red:" + s + "[a];color=blue:" + s + "[b];color=green:" + s + "[c];color=white:" + s + "[d];" +
			"[a][b]hstack[t];[c][d]hstack[u];[t][u]vstack,format=yuv420p"
	}
	for _, tc := range []struct {
		name         string
		w, h         int
		rotate       string
		frames       bool
		wantW, wantH int
	}{
		{"1080p is downscaled", 1920, 1080, "", true, 960, 540},
		{"VGA is kept", 640, 480, "", true, 640, 480},
		{"portrait is turned upright first", 1280, 720, "90", true, 720, 1280},
		{"off costs nothing", 1920, 1080, "", false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clip := testmedia.File(t, dir, fmt.Sprintf("%dx%d.mp4", tc.w, tc.h), "-f", "lavfi", "-i", quadrants(tc.w, tc.h),
				"-frames:v", "5", "-c:v", "libx264", "-preset", "ultrafast")
			if tc.rotate != "" {
				clip = testmedia.File(t, dir, "r"+tc.rotate+".mp4", "-i", clip, "-c", "copy", "-metadata:s:v:0", "rotate="+tc.rotate)
			}
			sink := &stillSink{}
			src, err := New(Config{Name: "t", Input: clip, Audio: sound, ModelWidth: 224, ModelHeight: 224, FailFast: true, Frames: tc.frames}, sink, hclog.NewNullLogger(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if sink.picture == nil || sink.picture.JPEG == nil {
				t.Fatal("no picture")
			}
			p := sink.picture
			if !tc.frames {
				if p.Frame != nil || p.FrameWidth != 0 {
					t.Fatalf("frame of %d bytes (%dx%d) encoded with Frames off", len(p.Frame), p.FrameWidth, p.FrameHeight)
				}
				return
			}
			img, err := jpeg.Decode(bytes.NewReader(p.Frame))
			if err != nil {
				t.Fatalf("frame: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH || p.FrameWidth != tc.wantW || p.FrameHeight != tc.wantH {
				t.Errorf("frame JPEG %v, reported %dx%d; want %dx%d", b, p.FrameWidth, p.FrameHeight, tc.wantW, tc.wantH)
			}
			// The model's picture is upright (TestRotationLikeTheCLI); the
			// view's frame shows the same.
			model, err := jpeg.Decode(bytes.NewReader(p.JPEG))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range [][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}} {
				if got, want := colourAt(img, q[0], q[1]), colourAt(model, q[0], q[1]); got != want || got == "mixed" {
					t.Errorf("frame at (%.2f, %.2f) is %s, the model's picture %s", q[0], q[1], got, want)
				}
			}
		})
	}
}
