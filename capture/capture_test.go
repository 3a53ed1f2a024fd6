package capture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image/jpeg"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/windowing"
)

// collector runs a Source into a Cutter and keeps what comes out.
type collector struct {
	mu      sync.Mutex
	windows []windowing.Window
	cutAt   []time.Time // when each kept window was emitted
	count   int         // windows seen
	discard bool        // count windows without keeping them, for memory tests
	stopAt  int         // cancel stop once this many windows came
	stop    context.CancelFunc
	cutter  *windowing.Cutter
	source  *capture.Source
	states  []capture.State
	errors  []string           // the LastError of each state change
	gaps    [][2]time.Duration // the gaps the source reported
}

// gapRecorder is the collector's sink: its cutter, with the gaps noted.
type gapRecorder struct {
	*windowing.Cutter
	c *collector
}

func (g gapRecorder) Gap(from, to time.Duration) {
	g.c.mu.Lock()
	g.c.gaps = append(g.c.gaps, [2]time.Duration{from, to})
	g.c.mu.Unlock()
	g.Cutter.Gap(from, to)
}

func newCollector(t *testing.T, cfg capture.Config, length, hop time.Duration) *collector {
	t.Helper()
	c := &collector{}
	var err error
	c.cutter, err = windowing.NewCutter(windowing.Config{Stream: cfg.Name, Length: length, Hop: hop}, func(w windowing.Window) {
		c.mu.Lock()
		c.count++
		if !c.discard {
			c.windows = append(c.windows, w)
			c.cutAt = append(c.cutAt, time.Now())
		}
		if c.stopAt > 0 && c.count >= c.stopAt {
			c.stop()
		}
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ModelWidth == 0 {
		cfg.ModelWidth, cfg.ModelHeight = 224, 224
	}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	capture.RouteFFmpegLogs(log)
	t.Cleanup(func() { capture.RouteFFmpegLogs(hclog.NewNullLogger()) })
	c.source, err = capture.New(cfg, gapRecorder{c.cutter, c}, log, func(s capture.Status) {
		c.mu.Lock()
		c.states = append(c.states, s.State)
		c.errors = append(c.errors, s.LastError)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// run captures to the end of the input (or the timeout) and flushes.
func (c *collector) run(t *testing.T, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := c.source.Run(ctx)
	c.cutter.Flush()
	return err
}

// stopAfterWindows returns a context that ends once n windows came.
func stopAfterWindows(t *testing.T, c *collector, n int) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c.mu.Lock()
	c.stopAt, c.stop = n, cancel
	c.mu.Unlock()
	return ctx
}

func (c *collector) snapshot() []windowing.Window {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]windowing.Window(nil), c.windows...)
}

// checkWindow asserts the invariants every window must hold.
func checkWindow(t *testing.T, w windowing.Window, length time.Duration, frameInterval time.Duration, origW, origH int) {
	t.Helper()
	wantSamples := int(length.Seconds() * 16000)
	if w.Samples != wantSamples {
		t.Errorf("window %d: %d samples, want %d", w.Seq, w.Samples, wantSamples)
	}
	if got := len(w.WAV); got != 44+2*wantSamples {
		t.Errorf("window %d: WAV is %d bytes, want %d", w.Seq, got, 44+2*wantSamples)
	}
	if len(w.WAV) >= 44 {
		h := w.WAV
		if string(h[0:4]) != "RIFF" || string(h[8:12]) != "WAVE" || string(h[36:40]) != "data" {
			t.Errorf("window %d: bad WAV header % x", w.Seq, h[:44])
		}
		if ch, rate, bits := binary.LittleEndian.Uint16(h[22:]), binary.LittleEndian.Uint32(h[24:]), binary.LittleEndian.Uint16(h[34:]); ch != 1 || rate != 16000 || bits != 16 {
			t.Errorf("window %d: WAV says %d ch %d Hz %d bit, want 1/16000/16", w.Seq, ch, rate, bits)
		}
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(w.JPEG))
	if err != nil {
		t.Errorf("window %d: JPEG: %v", w.Seq, err)
	} else if cfg.Width != 224 || cfg.Height != 224 {
		t.Errorf("window %d: JPEG is %dx%d, want 224x224", w.Seq, cfg.Width, cfg.Height)
	}
	if w.Width != origW || w.Height != origH {
		t.Errorf("window %d: original size %dx%d, want %dx%d", w.Seq, w.Width, w.Height, origW, origH)
	}
	centre := w.PTSStart + length/2
	if d := w.FramePTS - centre; d > frameInterval || d < -frameInterval {
		t.Errorf("window %d: frame at %v, centre %v: more than one frame interval (%v) apart", w.Seq, w.FramePTS, centre, frameInterval)
	}
	if w.PTSEnd-w.PTSStart != length {
		t.Errorf("window %d: spans %v–%v, want length %v", w.Seq, w.PTSStart, w.PTSEnd, length)
	}
}

func TestFilesBecomeWindows(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name          string
		file          string
		args          []string
		w, h          int
		fps           int
		length, hop   time.Duration
		wantWindows   int
		wantRMS       float64 // dBFS of the sine, checked within 0.5 dB
		skipFrame     string
		wantSeqStarts []time.Duration
	}{
		{
			name: "h264 aac mp4 1280x720@30 48k stereo", file: "a.mp4",
			args: testmedia.Args(testmedia.TestPattern(1280, 720, 30, 10), testmedia.Sine(0.5, 440, 48000, 2, 10),
				[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", "-shortest"}),
			w: 1280, h: 720, fps: 30, length: 3 * time.Second, hop: 3 * time.Second, wantWindows: 3,
			wantRMS: 20 * math.Log10(0.5/math.Sqrt2),
		},
		{
			name: "vp9 opus mkv", file: "b.mkv",
			args: testmedia.Args(testmedia.TestPattern(320, 240, 25, 7), testmedia.Sine(0.25, 1000, 48000, 2, 7),
				[]string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-c:a", "libopus", "-b:a", "96k", "-shortest"}),
			w: 320, h: 240, fps: 25, length: 3 * time.Second, hop: 3 * time.Second, wantWindows: 2,
			wantRMS: 20 * math.Log10(0.25/math.Sqrt2),
		},
		{
			name: "44.1 kHz mono", file: "c.mp4",
			args: testmedia.Args(testmedia.TestPattern(640, 480, 30, 7), testmedia.Sine(0.5, 440, 44100, 1, 7),
				[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", "-shortest"}),
			w: 640, h: 480, fps: 30, length: 3 * time.Second, hop: 3 * time.Second, wantWindows: 2,
			wantRMS: 20 * math.Log10(0.5/math.Sqrt2),
		},
		{
			name: "overlapping windows, hop 1.5s", file: "d.mkv",
			args: testmedia.Args(testmedia.TestPattern(320, 240, 30, 7), testmedia.Sine(0.5, 440, 16000, 1, 7),
				[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"}),
			w: 320, h: 240, fps: 30, length: 3 * time.Second, hop: 1500 * time.Millisecond, wantWindows: 3,
			wantRMS:       20 * math.Log10(0.5/math.Sqrt2),
			wantSeqStarts: []time.Duration{0, 1500 * time.Millisecond, 3 * time.Second},
		},
		{
			name: "non-reference frames skipped", file: "e.mp4",
			args: testmedia.Args(testmedia.TestPattern(640, 360, 30, 7), testmedia.Sine(0.5, 440, 48000, 2, 7),
				[]string{"-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-c:a", "aac", "-shortest"}),
			w: 640, h: 360, fps: 30, length: 3 * time.Second, hop: 3 * time.Second, wantWindows: 2,
			wantRMS: 20 * math.Log10(0.5/math.Sqrt2), skipFrame: "noref",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := testmedia.File(t, dir, tc.file, tc.args...)
			cfg := capture.Config{Name: "t", Input: path, SkipFrame: tc.skipFrame}
			if tc.skipFrame != "" {
				cfg.FramePick = capture.FramePickAll // exact leaves nothing to skip
			}
			c := newCollector(t, cfg, tc.length, tc.hop)
			if err := c.run(t, time.Minute); err != nil {
				t.Fatalf("Run: %v", err)
			}
			ws := c.snapshot()
			if len(ws) != tc.wantWindows {
				t.Fatalf("got %d windows, want %d", len(ws), tc.wantWindows)
			}
			interval := time.Second / time.Duration(tc.fps)
			if tc.skipFrame != "" {
				interval *= 3 // up to two B-frames skipped between kept frames
			}
			for i, w := range ws {
				if w.Seq != uint64(i+1) {
					t.Errorf("window %d has seq %d", i, w.Seq)
				}
				checkWindow(t, w, tc.length, interval, tc.w, tc.h)
				if math.Abs(w.RMSDBFS-tc.wantRMS) > 0.5 {
					t.Errorf("window %d: RMS %.2f dBFS, want %.2f ± 0.5", w.Seq, w.RMSDBFS, tc.wantRMS)
				}
				if w.SilenceFilled != 0 {
					t.Errorf("window %d: %d samples of silence filled in a continuous file", w.Seq, w.SilenceFilled)
				}
				if tc.wantSeqStarts != nil && w.PTSStart != tc.wantSeqStarts[i] {
					t.Errorf("window %d starts at %v, want %v", w.Seq, w.PTSStart, tc.wantSeqStarts[i])
				}
			}
			if st := c.source.Status(); st.State != capture.StateStopped {
				t.Errorf("state after Run = %s, want stopped", st.State)
			}
		})
	}
}

func TestAudioStartingLateIsSilenceOnTheTimeline(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "late.mkv", testmedia.Args(testmedia.TestPattern(320, 240, 30, 7),
		[]string{"-itsoffset", "1.5"}, testmedia.Sine(0.5, 440, 48000, 1, 5.5),
		[]string{"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le"})...)
	c := newCollector(t, capture.Config{Name: "late", Input: path}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) != 2 {
		t.Fatalf("got %d windows, want 2", len(ws))
	}
	// The first 1.5 s had no sound: 24000 samples of silence, give or take
	// the resampler's and the timestamps' jitter.
	if got := ws[0].SilenceFilled; got < 24000-800 || got > 24000+800 {
		t.Errorf("first window: %d samples filled, want about 24000", got)
	}
	if ws[1].SilenceFilled != 0 {
		t.Errorf("second window: %d samples filled, want 0", ws[1].SilenceFilled)
	}
	// Half a window of a −9 dBFS sine and half of silence is 3 dB quieter.
	if want := 20*math.Log10(0.5/math.Sqrt2) - 10*math.Log10(2); math.Abs(ws[0].RMSDBFS-want) > 0.5 {
		t.Errorf("first window RMS %.2f, want %.2f", ws[0].RMSDBFS, want)
	}
}

func TestSeparateAudioInput(t *testing.T) {
	dir := t.TempDir()
	video := testmedia.File(t, dir, "cam.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 30, 7),
		[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
	mic := testmedia.File(t, dir, "mic.wav", testmedia.Sine(0.5, 440, 48000, 2, 7)...)
	c := newCollector(t, capture.Config{Name: "split", Input: video, Audio: mic}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) != 2 {
		t.Fatalf("got %d windows, want 2", len(ws))
	}
	for _, w := range ws {
		checkWindow(t, w, 3*time.Second, time.Second/30, 320, 240)
		if want := 20 * math.Log10(0.5/math.Sqrt2); math.Abs(w.RMSDBFS-want) > 0.5 {
			t.Errorf("window %d RMS %.2f, want %.2f", w.Seq, w.RMSDBFS, want)
		}
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	videoOnly := testmedia.File(t, dir, "silent.mp4", testmedia.Args(testmedia.TestPattern(320, 240, 30, 4),
		[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
	audioOnly := testmedia.File(t, dir, "sound.wav", testmedia.Sine(0.5, 440, 16000, 1, 4)...)
	garbage := dir + "/garbage.mp4"
	// A fixed seed: random bytes are now and then probed as some format
	// (h263, with a low score) instead of refused as invalid data.
	testmedia.FFmpeg(t, "-f", "lavfi", "-i", "anoisesrc=d=1:seed=1", "-f", "u8", garbage)
	cases := []struct {
		name    string
		cfg     capture.Config
		is      error
		mention []string
	}{
		{"missing file", capture.Config{Input: dir + "/nope.mp4"}, nil, []string{"nope.mp4", "No such file or directory"}},
		{"no audio", capture.Config{Input: videoOnly}, capture.ErrNoAudio, []string{"silent.mp4", "--audio"}},
		{"no video", capture.Config{Input: audioOnly}, capture.ErrNoVideo, []string{"sound.wav"}},
		{"not media", capture.Config{Input: garbage}, nil, []string{"garbage.mp4", "Invalid data"}},
		{"refused rtsp", capture.Config{Input: "rtsp://127.0.0.1:1/cam", FailFast: true}, nil, []string{"rtsp://127.0.0.1:1/cam", "Connection refused"}},
		{"unknown demuxer option", capture.Config{Input: videoOnly, Audio: audioOnly, InputOptions: map[string]string{"no_such_option": "1"}}, nil, []string{"no_such_option"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "bad"
			c := newCollector(t, tc.cfg, 3*time.Second, 3*time.Second)
			err := c.run(t, 30*time.Second)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, m := range tc.mention {
				if !bytes.Contains([]byte(err.Error()), []byte(m)) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if st := c.source.Status(); st.State != capture.StateStopped || st.LastError == "" {
				t.Errorf("status %+v, want stopped with the error", st)
			}
		})
	}
}

func TestUnsupportedCodec(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "odd.mkv", testmedia.Args(testmedia.TestPattern(320, 240, 30, 4),
		testmedia.Sine(0.5, 440, 16000, 1, 4), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le"})...)
	// Rename the Matroska codec id in place (same length), so the demuxer
	// sees a codec no FFmpeg knows.
	b := readFile(t, path)
	b = bytes.Replace(b, []byte("V_MPEG4/ISO/AVC"), []byte("V_GARSSL/NOPE/X"), 1)
	writeFile(t, path, b)
	c := newCollector(t, capture.Config{Name: "odd", Input: path}, 3*time.Second, 3*time.Second)
	err := c.run(t, 30*time.Second)
	if err == nil || !errors.Is(err, capture.ErrNoVideo) && !errors.Is(err, capture.ErrUnsupported) {
		t.Fatalf("Run error %v, want unsupported codec or no video", err)
	}
}

func TestCorruptMiddleLosesOnlyTouchedWindows(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "c.ts", testmedia.Args(testmedia.TestPattern(640, 360, 30, 15),
		testmedia.Sine(0.5, 440, 48000, 2, 15),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-shortest", "-f", "mpegts"})...)
	testmedia.Corrupt(t, path, 0.5, 64*1024)
	c := newCollector(t, capture.Config{Name: "corrupt", Input: path}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatalf("Run: %v", err)
	}
	ws := c.snapshot()
	if len(ws) < 4 {
		t.Fatalf("got %d windows of 5, a 64 KiB corrupt stretch should cost at most one", len(ws))
	}
	seqs := map[uint64]bool{}
	for _, w := range ws {
		seqs[w.Seq] = true
		checkWindow(t, w, 3*time.Second, 2*time.Second/30, 640, 360)
	}
	for _, s := range []uint64{1, 2, 5} {
		if !seqs[s] {
			t.Errorf("window %d, far from the corruption, is missing", s)
		}
	}
	if c.source.Stats().DecodeErrors == 0 {
		t.Error("no decode errors counted for a corrupt stretch")
	}
}

func TestTruncatedFileKeepsWindowsBeforeTheCut(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, ext, format string }{{"mpegts", "ts", "mpegts"}, {"matroska", "mkv", "matroska"}} {
		t.Run(tc.name, func(t *testing.T) {
			path := testmedia.File(t, dir, "t."+tc.ext, testmedia.Args(testmedia.TestPattern(320, 240, 30, 12),
				testmedia.Sine(0.5, 440, 48000, 2, 12),
				[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-f", tc.format})...)
			testmedia.Truncate(t, path, 0.6)
			c := newCollector(t, capture.Config{Name: "trunc", Input: path}, 3*time.Second, 3*time.Second)
			err := c.run(t, time.Minute)
			ws := c.snapshot()
			if len(ws) < 2 {
				t.Fatalf("got %d windows (err %v); the first 60%% of 12 s hold 2 complete windows", len(ws), err)
			}
			for _, w := range ws {
				checkWindow(t, w, 3*time.Second, time.Second/30, 320, 240)
			}
		})
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := osReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := osWriteFile(p, b); err != nil {
		t.Fatal(err)
	}
}

// A looped file read in real time never ends by itself; cancelling its
// Run stops it at once, without reading ahead. FFmpeg checks its
// interrupt only when it refills its I/O buffer, and a small file (a
// still scene compresses to a few kilobytes) is read from the buffer
// again and again after each seek to its start: the reader must check.
func TestCancelStopsALoopedRealtimeFile(t *testing.T) {
	dir := t.TempDir()
	path := testmedia.File(t, dir, "loop.mp4", "-f", "lavfi", "-i", "color=c=0x303030:s=320x240:r=25:d=2",
		"-f", "lavfi", "-i", "sine=f=880:sample_rate=48000:d=2", "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-ac", "1", "-shortest")
	c := newCollector(t, capture.Config{Name: "loop", Input: path, Loop: true, Realtime: true}, time.Second, time.Second)
	ctx := stopAfterWindows(t, c, 3) // past the first loop seam
	done := make(chan error, 1)
	go func() { done <- c.source.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Run of a looped file did not return after its context ended (%d windows so far)", len(c.snapshot()))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The window that stopped it, and at most one more the decoders held.
	if c.count > 4 {
		t.Errorf("%d windows after cancelling at the third: the file was read ahead", c.count)
	}
}
