package capture_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/garssl/garssld/capture"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/windowing"
)

// toneSource is a lavfi source of one sine per channel, at freqs, at half
// scale.
func toneSource(rate int, seconds float64, freqs ...float64) []string {
	exprs := make([]string, len(freqs))
	for i, f := range freqs {
		exprs[i] = "0.5*sin(2*PI*" + strconv.FormatFloat(f, 'f', -1, 64) + "*t)"
	}
	return []string{"-f", "lavfi", "-i", "aevalsrc=" + strings.Join(exprs, "|") +
		":s=" + strconv.Itoa(rate) + ":d=" + strconv.FormatFloat(seconds, 'f', -1, 64)}
}

// zeroCrossingHz estimates a sine's frequency from its zero crossings.
func zeroCrossingHz(x []float32, rate int) float64 {
	n := 0
	for i := 1; i < len(x); i++ {
		if (x[i-1] < 0) != (x[i] < 0) {
			n++
		}
	}
	return float64(n) / 2 / (float64(len(x)) / float64(rate))
}

// TestArrayChannelsInConfiguredOrder: each window carries the configured
// channels, in the configured order, at the input's rate capped at 16 kHz,
// covering exactly the window's stretch.
func TestArrayChannelsInConfiguredOrder(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name      string
		rate      int
		freqs     []float64 // per input channel
		channels  []int
		wantRate  int
		wantFreqs []float64
		separate  bool // the sound is a separate input (a WAV file)
	}{
		{name: "4ch 48k permuted", rate: 48000, freqs: []float64{300, 500, 700, 900}, channels: []int{2, 0, 3, 1}, wantRate: 16000, wantFreqs: []float64{700, 300, 900, 500}},
		{name: "4ch 16k", rate: 16000, freqs: []float64{300, 500, 700, 900}, channels: []int{0, 1, 2, 3}, wantRate: 16000, wantFreqs: []float64{300, 500, 700, 900}},
		{name: "4ch 8k subset", rate: 8000, freqs: []float64{300, 500, 700, 900}, channels: []int{3, 1}, wantRate: 8000, wantFreqs: []float64{900, 500}},
		{name: "stereo pair 44.1k", rate: 44100, freqs: []float64{400, 1100}, channels: []int{1, 0}, wantRate: 16000, wantFreqs: []float64{1100, 400}},
		{name: "separate 6ch WAV 16k", rate: 16000, freqs: []float64{200, 300, 500, 700, 900, 1100}, channels: []int{1, 2, 3, 4}, wantRate: 16000, wantFreqs: []float64{300, 500, 700, 900}, separate: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := capture.Config{Name: "tones", ArrayChannels: tc.channels}
			if tc.separate {
				cfg.Input = testmedia.File(t, dir, "cam"+strconv.Itoa(i)+".mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 7),
					[]string{"-c:v", "libx264", "-preset", "ultrafast"})...)
				cfg.Audio = testmedia.File(t, dir, "mic"+strconv.Itoa(i)+".wav", toneSource(tc.rate, 7, tc.freqs...)...)
			} else {
				cfg.Input = testmedia.File(t, dir, "tones"+strconv.Itoa(i)+".mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 7),
					toneSource(tc.rate, 7, tc.freqs...),
					[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"})...)
			}
			c := newCollector(t, cfg, 3*time.Second, 3*time.Second)
			if err := c.run(t, time.Minute); err != nil {
				t.Fatal(err)
			}
			ws := c.snapshot()
			if len(ws) != 2 {
				t.Fatalf("%d windows, want 2", len(ws))
			}
			for _, w := range ws {
				a := w.Array
				if a == nil {
					t.Fatalf("window %d has no Array", w.Seq)
				}
				if a.Rate != tc.wantRate || len(a.Channels) != len(tc.channels) {
					t.Fatalf("window %d: %d channels at %d Hz, want %d at %d Hz", w.Seq, len(a.Channels), a.Rate, len(tc.channels), tc.wantRate)
				}
				for j, ch := range a.Channels {
					if len(ch) != 3*tc.wantRate {
						t.Errorf("window %d channel %d: %d samples, want %d", w.Seq, j, len(ch), 3*tc.wantRate)
					}
					// Skip the first window's start, where the resampler
					// fades in.
					if got := zeroCrossingHz(ch[len(ch)/4:], a.Rate); math.Abs(got-tc.wantFreqs[j]) > 5 {
						t.Errorf("window %d channel %d (input %d): %.1f Hz, want %.0f", w.Seq, j, tc.channels[j], got, tc.wantFreqs[j])
					}
				}
			}
		})
	}
}

// TestNoArrayWithoutChannels: a stream without array channels gets no
// Array, as before.
func TestNoArrayWithoutChannels(t *testing.T) {
	path := testmedia.File(t, t.TempDir(), "mono.mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 4),
		toneSource(48000, 4, 300, 500), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "plain", Input: path}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, w := range c.snapshot() {
		if w.Array != nil {
			t.Errorf("window %d has an Array without array channels", w.Seq)
		}
	}
}

// TestArrayAlignedWithMono: a click at a known time sits at the same
// offset in the window's mono sound and in each array channel.
func TestArrayAlignedWithMono(t *testing.T) {
	// Silence with a 2 ms burst at 4.5 s on every channel (one with the
	// other sign, so the mix cannot stand in for it).
	click := `0.8*between(t\,4.5\,4.502)`
	src := []string{"-f", "lavfi", "-i", "aevalsrc=" + click + "|" + click + "|" + click + "|-" + click + ":s=48000:d=7"}
	path := testmedia.File(t, t.TempDir(), "click.mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 7), src,
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "click", Input: path, ArrayChannels: []int{0, 1, 2, 3}}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) != 2 || ws[1].Array == nil {
		t.Fatalf("%d windows, want 2 with an Array", len(ws))
	}
	w := ws[1]
	mono := onset(monoSamples(w), 0.1)
	if mono < 0 {
		t.Fatal("no click in the mono sound")
	}
	monoAt := time.Duration(mono) * time.Second / 16000
	if want := 1500 * time.Millisecond; (monoAt - want).Abs() > 2*time.Millisecond {
		t.Errorf("click at %v into the window in mono, want %v", monoAt, want)
	}
	for j, ch := range w.Array.Channels {
		i := onset(ch, 0.2)
		if i < 0 {
			t.Errorf("channel %d: no click", j)
			continue
		}
		at := time.Duration(i) * time.Second / time.Duration(w.Array.Rate)
		// One sample at 16 kHz is 62.5µs; the resamplers' filters smear a
		// click over a few.
		t.Logf("channel %d: click %v after the mono mix's", j, at-monoAt)
		if d := at - monoAt; d.Abs() > 250*time.Microsecond {
			t.Errorf("channel %d: click at %v, mono at %v: %v apart", j, at, monoAt, d)
		}
	}
}

// onset is the index of the first sample whose magnitude reaches level,
// or -1.
func onset[S float32 | float64](x []S, level S) int {
	for i, v := range x {
		if v >= level || v <= -level {
			return i
		}
	}
	return -1
}

// monoSamples reads w's WAV as floats in [-1, 1].
func monoSamples(w windowing.Window) []float64 {
	out := make([]float64, 0, w.Samples)
	for i := 44; i+1 < len(w.WAV); i += 2 {
		out = append(out, float64(int16(uint16(w.WAV[i])|uint16(w.WAV[i+1])<<8))/32768)
	}
	return out
}

// TestArrayChannelMissing: a channel the input lacks stops the stream at
// open with ErrNoChannel, naming the stream, the channel and the count.
func TestArrayChannelMissing(t *testing.T) {
	path := testmedia.File(t, t.TempDir(), "four.mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 2),
		toneSource(16000, 2, 300, 500, 700, 900), []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "front", Input: path, ArrayChannels: []int{0, 1, 2, 4}}, 3*time.Second, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.source.Run(ctx)
	if !errors.Is(err, capture.ErrNoChannel) {
		t.Fatalf("Run = %v, want ErrNoChannel", err)
	}
	if !strings.HasPrefix(err.Error(), "open ") {
		t.Errorf("error %q does not come from opening the input", err)
	}
	for _, want := range []string{`stream "front"`, "channel 4", "4 audio channel(s) (0 to 3)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestArrayHoleIsSilentAsMono: where a hole in the sound is filled with
// silence in the mono mix, the array's channels are silent too.
func TestArrayHoleIsSilentAsMono(t *testing.T) {
	path := testmedia.File(t, t.TempDir(), "hole4.mkv", testmedia.Args(testmedia.TestPattern(160, 120, 10, 9),
		toneSource(48000, 9, 300, 500, 700, 900),
		[]string{"-af", "aselect='not(between(t,3.25,5.75))'", "-c:v", "libx264", "-preset", "ultrafast",
			"-c:a", "pcm_s16le", "-shortest"})...)
	c := newCollector(t, capture.Config{Name: "hole", Input: path, ArrayChannels: []int{0, 1, 2, 3}}, 3*time.Second, 3*time.Second)
	if err := c.run(t, time.Minute); err != nil {
		t.Fatal(err)
	}
	ws := c.snapshot()
	if len(ws) != 3 {
		t.Fatalf("%d windows", len(ws))
	}
	total := 0
	for _, w := range ws {
		if w.Array == nil {
			t.Fatalf("window %d has no Array", w.Seq)
		}
		// The mono mix's filled samples, at the array's rate.
		want := w.SilenceFilled * w.Array.Rate / 16000
		total += want
		for j, ch := range w.Array.Channels {
			z := 0
			for _, v := range ch {
				if v == 0 {
					z++
				}
			}
			if d := z - want; d > 160 || d < -160 {
				t.Errorf("window %d channel %d: %d silent samples, the mono mix %d", w.Seq, j, z, want)
			}
		}
	}
	if total < 40000-800 {
		t.Errorf("%d samples filled in all, want about 2.5 s", total)
	}
}

// BenchmarkArrayCapture: what keeping a 4-microphone array costs, in CPU
// time (this process's, all threads) per second of a 4-channel 48 kHz PCM
// file with a small picture, decoded as fast as it goes: "mono" is the same
// file without array channels, the baseline to quote the array's cost
// against.
func BenchmarkArrayCapture(b *testing.B) {
	const seconds = 20
	path := testmedia.File(b, b.TempDir(), "bench4.mkv", testmedia.Args(testmedia.TestPattern(160, 120, 5, seconds),
		toneSource(48000, seconds, 300, 500, 700, 900),
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest"})...)
	for _, bc := range []struct {
		name     string
		channels []int
	}{{"mono", nil}, {"array4", []int{0, 1, 2, 3}}} {
		b.Run(bc.name, func(b *testing.B) {
			before := cpuTime(b)
			for b.Loop() {
				c, err := windowing.NewCutter(windowing.Config{Stream: "bench", Length: 3 * time.Second, Hop: 3 * time.Second}, func(windowing.Window) {})
				if err != nil {
					b.Fatal(err)
				}
				src, err := capture.New(capture.Config{Name: "bench", Input: path, ModelWidth: 224, ModelHeight: 224, ArrayChannels: bc.channels}, c, hclog.NewNullLogger(), nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := src.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N)/seconds, "cpu-µs/media-s")
		})
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
