package gar_test

// The direction of arrival against omnisim in truth mode: the sidecar's
// locate_error answers a silent blue square (the wrong object) where the
// red one makes the sound, the paper's own failure case. The microphone
// array hears the red square's direction.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/gar/mllm"
	"github.com/garssl/garssld/internal/arraysim"
	"github.com/garssl/garssld/media"
)

const (
	sceneHFOV = 90.0
	sceneYaw  = 10.0 // the array's x axis, 10° right of the optical axis
)

// scene is a model-size picture with a red square (the sound) and a blue
// one (silent).
type scene struct{ red, blue image.Rectangle }

func (s scene) jpeg(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, modelSize, modelSize))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, s.red, image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	draw.Draw(img, s.blue, image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func rectBox(r image.Rectangle) gar.Box { return gar.Box{r.Min.X, r.Min.Y, r.Max.X - 1, r.Max.Y - 1} }

// redBearing is the camera bearing of the red square's centre.
func (s scene) redBearing() float64 {
	return gar.BearingDeg(gar.CentreXNorm(rectBox(s.red), modelSize), sceneHFOV)
}

// arrayFrom is 3 s of noise bursts at a ReSpeaker-like array from camera
// bearing az, 10 dB SNR.
func arrayFrom(az float64, seed uint64) *media.ArrayAudio {
	rng := rand.New(rand.NewPCG(seed, 19))
	src := arraysim.Bursts(rng, 3*16000, 16000)
	ch := arraysim.FarField(src, 16000, arraysim.ReSpeaker4(), az-sceneYaw, 0)
	arraysim.AddNoise(rng, ch, 10)
	return &media.ArrayAudio{Rate: 16000, Channels: arraysim.Float32(ch, 0.5)}
}

func newDirection(tb testing.TB, hint bool) *gar.Direction {
	tb.Helper()
	d, err := gar.NewDirection(gar.DirectionConfig{Stream: "front", Positions: arraysim.ReSpeaker4(), YawOffsetDeg: sceneYaw, ToleranceDeg: 15, Hint: hint, MaxSources: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// wrongObjectSim is omnisim whose locate answers the blue square for the
// red one's sound.
func wrongObjectSim(tb testing.TB, locateError string) *sim {
	tb.Helper()
	truthFile := filepath.Join(tb.TempDir(), "truth.json")
	sidecar := `{"target_rgb":[255,0,0],"audio_class":"beep","audio_confidence":0.95` + locateError + `}`
	if err := os.WriteFile(truthFile, []byte(sidecar), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg := simConfig(1)
	cfg.TruthFile = truthFile
	return startSim(tb, cfg, nil)
}

func sceneInput(tb testing.TB, s scene, seq int, dir *gar.Direction, arr *media.ArrayAudio) gar.Input {
	return gar.Input{
		RequestID: fmt.Sprintf("robot/front/%d", seq),
		ImageJPEG: s.jpeg(tb), ModelWidth: modelSize, ModelHeight: modelSize,
		WAV: testWAV(), FrameWidth: frameWidth, FrameHeight: frameHeight,
		HFOVDeg: sceneHFOV, Direction: dir, Array: arr,
	}
}

// TestDirectionHintFixesTheWrongObject: locate answers the blue square; a
// confident direction at the red one disagrees, and with the hint on the
// locate stage runs again naming the left third, where omnisim finds the
// red square. With the hint off the loop keeps the wrong object (the
// refinement clamp cannot reach the other square) and the agreement says
// so.
func TestDirectionHintFixesTheWrongObject(t *testing.T) {
	sc := scene{red: image.Rect(16, 80, 64, 128), blue: image.Rect(160, 80, 208, 128)}
	red := rectBox(sc.red)
	tests := []struct {
		name, locateError string
		hint              bool
		wantOnRed         bool
		wantHint          bool
		maxAgreement      float64
		minAgreement      float64
	}{
		{"hint on", `,"locate_error":{"target_rgb":[0,0,255]}`, true, true, true, 5, 0},
		{"hint off", `,"locate_error":{"target_rgb":[0,0,255]}`, false, false, false, 180, 50},
		{"agreeing box", ``, true, true, false, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wrongObjectSim(t, tt.locateError)
			l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, s.clientConfig()))
			res := localize(t, l, sceneInput(t, sc, 3, newDirection(t, tt.hint), arrayFrom(sc.redBearing(), 1)))
			if res.Status != gar.StatusOK || len(res.Sources) != 1 {
				t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
			}
			dir := res.Audio.DoA
			if dir == nil || dir.Flat || !dir.Confident || gar.AngleDeg(dir.AzimuthDeg, sc.redBearing()) > 5 {
				t.Fatalf("audio.doa %+v, want confident near the red square's %.1f°", dir, sc.redBearing())
			}
			src := res.Sources[0]
			// Without the hint, refinement moves the blue box at most
			// MaxDeltaPx toward the red one: never onto it.
			if got := iou(src.BBoxModel, red); (got >= 0.5) != tt.wantOnRed {
				t.Errorf("final box %v, IoU %.2f with the red square %v; want ≥ 0.5: %v", src.BBoxModel, got, red, tt.wantOnRed)
			}
			if res.GAR.DoAHint != tt.wantHint {
				t.Errorf("doa_hint %v, want %v", res.GAR.DoAHint, tt.wantHint)
			}
			hinted := false
			for _, r := range s.rec.take() {
				if strings.HasSuffix(r.id, "/locate/t1") {
					hinted = true
					if !bytes.Contains(r.body, []byte("the sound comes from the left third of the picture")) {
						t.Errorf("the hinted locate does not name the left third: %s", r.body)
					}
				}
			}
			if hinted != tt.wantHint {
				t.Errorf("a hinted locate request was sent: %v, want %v", hinted, tt.wantHint)
			}
			if a := src.DoAAgreementDeg; a == nil || *a > tt.maxAgreement || *a < tt.minAgreement {
				t.Errorf("doa_agreement_deg %s, want in [%v, %v]", degrees(a), tt.minAgreement, tt.maxAgreement)
			}
		})
	}
}

// TestDirectionWithoutTheModel: DoA needs no model, so a window the model
// cannot answer still carries its direction; one from behind the camera is
// published as outside the picture.
func TestDirectionWithoutTheModel(t *testing.T) {
	cfg := clientConfigFor("http://127.0.0.1:1") // nothing listens on port 1
	cfg.Timeout = time.Second
	l := newLocalizer(t, gar.Config{SupportsN: true}, newClient(t, cfg))
	sc := scene{red: image.Rect(16, 80, 64, 128), blue: image.Rect(160, 80, 208, 128)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := l.Localize(ctx, sceneInput(t, sc, 4, newDirection(t, true), arrayFrom(170, 2)))
	if res.Status != gar.StatusMLLMUnavailable {
		t.Fatalf("status %s, want mllm_unavailable", res.Status)
	}
	dir := res.Audio.DoA
	if dir == nil || dir.Flat || !dir.Confident || !dir.OutsideFOV || gar.AngleDeg(dir.AzimuthDeg, 170) > 5 {
		t.Errorf("audio.doa %+v, want confident at about 170° and outside_fov", dir)
	}
}

// BenchmarkDirectionHint measures what the hint is for: the share of
// windows whose final box has IoU ≥ 0.5 with the sounding square, with the
// hint off (the paper's loop; the direction only published) and on, on
// the same scenes in the same run. Each scene places the red and blue
// squares at random (16-pixel grid, not overlapping), and omnisim's locate
// answers the blue one. The hint cannot help when both squares lie in the
// same third of the picture, and the direction has its own error (10 dB
// SNR), so neither share is a foregone conclusion.
func BenchmarkDirectionHint(b *testing.B) {
	s := wrongObjectSim(b, `,"locate_error":{"target_rgb":[0,0,255]}`)
	l := newLocalizer(b, gar.Config{SupportsN: true}, newClient(b, s.clientConfig()))
	off, on := newDirection(b, false), newDirection(b, true)
	const scenes = 40
	rng := rand.New(rand.NewPCG(19, 5))
	var all []scene
	for len(all) < scenes {
		sq := func() image.Rectangle {
			size := 32 + 16*rng.IntN(2)
			x, y := 16*rng.IntN((modelSize-size)/16+1), 16*rng.IntN((modelSize-size)/16+1)
			return image.Rect(x, y, x+size, y+size)
		}
		sc := scene{red: sq(), blue: sq()}
		if !sc.red.Overlaps(sc.blue) {
			all = append(all, sc)
		}
	}
	var hitsOff, hitsOn, hinted, windows int
	for b.Loop() {
		for i, sc := range all {
			arr := arrayFrom(sc.redBearing(), uint64(i))
			truth := rectBox(sc.red)
			r := localize(b, l, sceneInput(b, sc, i, off, arr))
			if len(r.Sources) == 1 && iou(r.Sources[0].BBoxModel, truth) >= 0.5 {
				hitsOff++
			}
			r = localize(b, l, sceneInput(b, sc, i, on, arr))
			if len(r.Sources) == 1 && iou(r.Sources[0].BBoxModel, truth) >= 0.5 {
				hitsOn++
			}
			if r.GAR.DoAHint {
				hinted++
			}
			windows++
		}
	}
	b.ReportMetric(float64(hitsOff)/float64(windows), "iou50_hint_off")
	b.ReportMetric(float64(hitsOn)/float64(windows), "iou50_hint_on")
	b.ReportMetric(float64(hinted)/float64(windows), "hinted_share")
	b.ReportMetric(math.Round(float64(windows)/float64(b.N)), "windows/op")
}

// TestDirectionHintDuet: two sources (K = 2), two peaks. omnisim's locate
// answers the silent blue square (middle) for the red one (left) and the
// yellow one (right) correctly; the array hears red and yellow. The hinted
// multi-source locate names both thirds, and each box then agrees with its
// own peak, matched one to one.
func TestDirectionHintDuet(t *testing.T) {
	red, blue, yellow := image.Rect(16, 80, 64, 128), image.Rect(96, 80, 128, 112), image.Rect(160, 80, 208, 128)
	truthFile := filepath.Join(t.TempDir(), "truth.json")
	sidecar := `{"sources":[{"target_rgb":[255,0,0],"audio_class":"beep","locate_error":{"target_rgb":[0,0,255]}},{"target_rgb":[255,255,0],"audio_class":"whistle"}]}`
	if err := os.WriteFile(truthFile, []byte(sidecar), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := simConfig(1)
	cfg.TruthFile = truthFile
	s := startSim(t, cfg, nil)
	l := newLocalizer(t, gar.Config{SupportsN: true, MaxSources: 2}, newClient(t, s.clientConfig()))

	img := image.NewRGBA(image.Rect(0, 0, modelSize, modelSize))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	for r, c := range map[image.Rectangle]color.RGBA{red: {255, 0, 0, 255}, blue: {0, 0, 255, 255}, yellow: {255, 255, 0, 255}} {
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	bearing := func(r image.Rectangle) float64 {
		return gar.BearingDeg(gar.CentreXNorm(rectBox(r), modelSize), sceneHFOV)
	}
	rng := rand.New(rand.NewPCG(7, 19))
	a := arraysim.FarField(arraysim.Bursts(rng, 3*16000, 16000), 16000, arraysim.ReSpeaker4(), bearing(red)-sceneYaw, 0)
	b := arraysim.FarField(arraysim.Bursts(rng, 3*16000, 16000), 16000, arraysim.ReSpeaker4(), bearing(yellow)-sceneYaw, 0)
	arraysim.Mix(a, b, 0)
	arraysim.AddNoise(rng, a, 20)
	dir, err := gar.NewDirection(gar.DirectionConfig{Stream: "front", Positions: arraysim.ReSpeaker4(), YawOffsetDeg: sceneYaw, ToleranceDeg: 15, Hint: true, MaxSources: 2})
	if err != nil {
		t.Fatal(err)
	}
	res := localize(t, l, gar.Input{
		RequestID: "robot/front/5", ImageJPEG: buf.Bytes(), ModelWidth: modelSize, ModelHeight: modelSize,
		WAV: testWAV(), FrameWidth: frameWidth, FrameHeight: frameHeight,
		HFOVDeg: sceneHFOV, Direction: dir, Array: &media.ArrayAudio{Rate: 16000, Channels: arraysim.Float32(a, 0.5)},
	})
	if res.Status != gar.StatusOK || len(res.Sources) != 2 {
		t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
	}
	if d := res.Audio.DoA; d == nil || len(d.Peaks) != 2 {
		t.Fatalf("audio.doa %+v, want two peaks", d)
	}
	if !res.GAR.DoAHint {
		t.Errorf("doa_hint false; the first locate answered the blue square for the red one")
	}
	for k, want := range []image.Rectangle{red, yellow} {
		src := res.Sources[k]
		if got := iou(src.BBoxModel, rectBox(want)); got < 0.5 {
			t.Errorf("source %d: box %v, IoU %.2f with %v", k, src.BBoxModel, got, rectBox(want))
		}
		if a := src.DoAAgreementDeg; a == nil || *a > 6 {
			t.Errorf("source %d: doa_agreement_deg %s, want ≤ 6 (its own peak)", k, degrees(a))
		}
	}
	for _, r := range s.rec.take() {
		if strings.HasSuffix(r.id, "/locate/t1") && !bytes.Contains(r.body, []byte("the sounds come from the left third and the right third of the picture")) &&
			!bytes.Contains(r.body, []byte("the sounds come from the right third and the left third of the picture")) {
			t.Errorf("the hinted multi-source locate does not name both thirds: %s", r.body)
		}
	}
}

// degrees prints an optional angle.
func degrees(p *float64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprintf("%.1f°", *p)
}

// failHinted fails the hinted locate (request id …/locate/t1) and passes
// every other request on.
type failHinted struct{ next gar.Completer }

func (f failHinted) Complete(ctx context.Context, req mllm.Request) (mllm.Response, error) {
	if strings.HasSuffix(req.ID, "/locate/t1") {
		return mllm.Response{}, errors.New("simulated failure of the hinted locate")
	}
	return f.next.Complete(ctx, req)
}

type hintCounts struct {
	mu    sync.Mutex
	hints map[string]int
}

func (c *hintCounts) DoAWindow(string, string) {}
func (c *hintCounts) DoAHint(_, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hints[result]++
}

// TestFailedHintKeepsTheFirstBoxes: a hinted locate that fails leaves the
// window as generation made it (ok, the first box), lists the failure and
// counts it.
func TestFailedHintKeepsTheFirstBoxes(t *testing.T) {
	sc := scene{red: image.Rect(16, 80, 64, 128), blue: image.Rect(160, 80, 208, 128)}
	s := wrongObjectSim(t, `,"locate_error":{"target_rgb":[0,0,255]}`)
	l := newLocalizer(t, gar.Config{SupportsN: true}, failHinted{newClient(t, s.clientConfig())})
	counts := &hintCounts{hints: map[string]int{}}
	dir, err := gar.NewDirection(gar.DirectionConfig{Stream: "front", Positions: arraysim.ReSpeaker4(), YawOffsetDeg: sceneYaw, ToleranceDeg: 15, Hint: true, Observer: counts})
	if err != nil {
		t.Fatal(err)
	}
	res := localize(t, l, sceneInput(t, sc, 6, dir, arrayFrom(sc.redBearing(), 1)))
	if res.Status != gar.StatusOK || len(res.Sources) != 1 {
		t.Fatalf("status %s, err %v, %d sources", res.Status, res.Err, len(res.Sources))
	}
	if got := res.Sources[0].InitialBBoxModel; iou(got, rectBox(sc.blue)) < 0.9 {
		t.Errorf("initial box %v, want the first locate's blue square %v", got, rectBox(sc.blue))
	}
	if !res.GAR.DoAHint || len(res.Failures) != 1 || res.Failures[0].Stage != "locate" {
		t.Errorf("doa_hint %v, failures %+v; want the hinted locate tried and listed", res.GAR.DoAHint, res.Failures)
	}
	if counts.hints[gar.HintFailed] != 1 {
		t.Errorf("hint results %v, want one failed", counts.hints)
	}
}
