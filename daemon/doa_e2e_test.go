package daemon

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/garssl/garssld/gar"
	"github.com/garssl/garssld/internal/arraysim"
	"github.com/garssl/garssld/internal/mosquittotest"
	"github.com/garssl/garssld/internal/testmedia"
	"github.com/garssl/garssld/internal/waittest"
	"github.com/garssl/garssld/omnisim"
)

// The direction-of-arrival clips: a red square (the sound) on the left and
// a blue one (silent) on the right of a 320×240 picture, and 4 channels of
// a ReSpeaker-like array hearing broadband beeps (noise bursts) from a
// chosen bearing. With hfov_deg = 90 the squares' centres lie at ∓31.5°.
var (
	doaRedBox  = [4]float64{32, 90, 91, 149}
	doaBlueBox = [4]float64{228, 90, 287, 149}
)

const doaHFOV = 90.0

// bearingOf is the camera bearing of a frame-pixel box's centre.
func bearingOf(b [4]float64) float64 {
	return gar.BearingDeg((b[0]+b[2]+1)/2/clipW, doaHFOV)
}

// doaClip writes a Matroska clip (H.264 and 4-channel 16 kHz pcm_s16le) of
// the two squares with the beeps from camera bearing az.
func doaClip(t testing.TB, dir, name string, az float64, seconds int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(math.Float64bits(az)), 19))
	src := arraysim.Bursts(rng, seconds*16000, 16000)
	ch := arraysim.FarField(src, 16000, arraysim.ReSpeaker4(), az, 0)
	arraysim.AddNoise(rng, ch, 20)
	wav := filepath.Join(dir, name+".wav")
	f, err := os.Create(wav)
	if err != nil {
		t.Fatal(err)
	}
	if err := arraysim.WriteWAV16(f, 16000, arraysim.Float32(ch, 0.5)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d := fmt.Sprint(seconds)
	return testmedia.File(t, dir, name+".mkv",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x303030:s=%dx%d:r=25:d=%s", clipW, clipH, d),
		"-f", "lavfi", "-i", "color=c=0xff0000:s=60x60:r=25:d="+d,
		"-f", "lavfi", "-i", "color=c=0x0000ff:s=60x60:r=25:d="+d,
		"-i", wav,
		"-filter_complex", fmt.Sprintf("[0][1]overlay=x=%d:y=%d[a];[a][2]overlay=x=%d:y=%d[v]",
			int(doaRedBox[0]), int(doaRedBox[1]), int(doaBlueBox[0]), int(doaBlueBox[1])),
		"-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "pcm_s16le", "-shortest")
}

// startWrongObjectSim is omnisim whose locate answers the blue square for
// the red one's sound: the paper's failure case, a silent object that looks
// plausible.
func startWrongObjectSim(t testing.TB) string {
	t.Helper()
	truth := filepath.Join(t.TempDir(), "truth.json")
	writeJSON(t, truth, map[string]any{
		"target_rgb": []int{255, 0, 0}, "tolerance": 70, "min_pixels": 20,
		"audio_class": audioClass, "audio_confidence": 0.93,
		"locate_error": map[string]any{"target_rgb": []int{0, 0, 255}},
	})
	cfg := omnisim.DefaultConfig()
	cfg.TimeScale = 0
	cfg.TruthFile = truth
	srv, err := omnisim.New(cfg, nil)
	if err != nil {
		t.Fatalf("omnisim: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL + "/v1"
}

// micArrayLines are a stream's camera and mic_array blocks: the array the
// clips were made for, its x axis on the optical axis.
func micArrayLines(hint bool) []string {
	positions := ""
	for i, p := range arraysim.ReSpeaker4() {
		if i > 0 {
			positions += ", "
		}
		positions += fmt.Sprintf("[%v, %v, %v]", p[0], p[1], p[2])
	}
	return []string{
		fmt.Sprintf("camera {\n    hfov_deg = %v\n  }", doaHFOV),
		fmt.Sprintf("mic_array {\n    positions = [%s]\n    channels = [0, 1, 2, 3]\n    hint = %v\n  }", positions, hint),
	}
}

// TestEndToEndDirectionOfArrival: multichannel clips through capture,
// windowing, the scheduler, the GAR loop against omnisim and the broker.
// omnisim's locate picks the silent blue square; the array hears the red
// one. With the hint on, the locate stage runs again naming the left third
// and the box lands on the red square, in agreement with the direction;
// with it off the box stays on the wrong side and the agreement shows it.
// Beeps from behind the camera are published as outside_fov, with the
// status GAR decided.
func TestEndToEndDirectionOfArrival(t *testing.T) {
	dir := t.TempDir()
	front := doaClip(t, dir, "front", bearingOf(doaRedBox), 4)
	behind := doaClip(t, dir, "behind", 175, 4)
	b := mosquittotest.Start(t, mosquittotest.Config{})
	sub := subscribe(t, b, "doa")
	r := startDaemon(t, configText(setup{
		broker: b.URL(), endpoint: startWrongObjectSim(t), storeDir: filepath.Join(dir, "store"),
		maxInFlight: 2, maxQueue: 4, staleAfter: "30s",
	},
		streamSpec{name: "hinted", input: front, extra: micArrayLines(true)},
		streamSpec{name: "plain", input: front, extra: micArrayLines(false)},
		streamSpec{name: "behind", input: behind, extra: micArrayLines(true)},
	), nil, testHooks{})

	streams := []string{"hinted", "plain", "behind"}
	waittest.For(t, "every stream to stop at the end of its file", 90*time.Second, func() bool {
		for _, s := range streams {
			if !seenState(sub.Messages(), s, "stopped", 0) {
				return false
			}
		}
		return true
	})
	waittest.For(t, "every cut window published or dropped", 60*time.Second, func() bool {
		m := r.scrape(t)
		for _, s := range streams {
			cut := m.sum("garssl_windows_cut_total", map[string]string{"stream": s})
			published := m.sum("garssl_windows_total", map[string]string{"stream": s})
			dropped, _ := schedulerDrops(m, s)
			if cut == 0 || cut != published+dropped || len(distinctSeqs(detections(t, sub.Messages(), s), r.RunID())) != int(published) {
				return false
			}
		}
		return true
	})

	red, blue := modelBox(doaRedBox), modelBox(doaBlueBox)
	redBearing := bearingOf(doaRedBox)
	okWindows := func(stream string) []gar.Detection {
		var out []gar.Detection
		for _, d := range distinctSeqs(detections(t, sub.Messages(), stream), r.RunID()) {
			if d.Status == gar.StatusOK && len(d.Sources) == 1 {
				out = append(out, d)
			}
		}
		if len(out) == 0 {
			t.Fatalf("stream %s: no ok window", stream)
		}
		return out
	}
	checkDirection := func(stream string, d gar.Detection, want float64) *gar.DoAInfo {
		doa := d.Audio.DoA
		if doa == nil || doa.Flat || !doa.Confident || gar.AngleDeg(doa.AzimuthDeg, want) > 8 {
			t.Errorf("%s seq %d: audio.doa %+v, want confident within 8° of %.1f°", stream, d.Seq, doa, want)
			return nil
		}
		return doa
	}
	for _, d := range okWindows("hinted") {
		src := d.Sources[0]
		if doa := checkDirection("hinted", d, redBearing); doa != nil && doa.OutsideFOV {
			t.Errorf("hinted seq %d: outside_fov for a direction in the picture", d.Seq)
		}
		if !d.GAR.DoAHint {
			t.Errorf("hinted seq %d: doa_hint false; the first locate answered the blue square", d.Seq)
		}
		if got := iou(src.BBoxModel.Float(), red); got < 0.5 {
			t.Errorf("hinted seq %d: box %v, IoU %.2f with the red square %v", d.Seq, src.BBoxModel, got, red)
		}
		if a := src.DoAAgreementDeg; a == nil || *a > 8 {
			t.Errorf("hinted seq %d: doa_agreement_deg %s, want ≤ 8", d.Seq, fmtDeg(a))
		}
	}
	for _, d := range okWindows("plain") {
		src := d.Sources[0]
		checkDirection("plain", d, redBearing)
		if d.GAR.DoAHint {
			t.Errorf("plain seq %d: doa_hint with hint = false", d.Seq)
		}
		// The clamp of design §3.5 keeps refinement near the blue square.
		if iou(src.BBoxModel.Float(), red) > 0 || iou(src.InitialBBoxModel.Float(), blue) < 0.5 {
			t.Errorf("plain seq %d: initial %v, final %v; want the blue square %v kept", d.Seq, src.InitialBBoxModel, src.BBoxModel, blue)
		}
		if a := src.DoAAgreementDeg; a == nil || *a < 40 {
			t.Errorf("plain seq %d: doa_agreement_deg %s, want the wrong box's ≥ 40", d.Seq, fmtDeg(a))
		}
	}
	for _, d := range okWindows("behind") {
		if doa := checkDirection("behind", d, 175); doa != nil && !doa.OutsideFOV {
			t.Errorf("behind seq %d: outside_fov false for a direction at %.1f°", d.Seq, doa.AzimuthDeg)
		}
		if d.GAR.DoAHint {
			t.Errorf("behind seq %d: a direction outside the picture cannot name a region, yet doa_hint", d.Seq)
		}
	}

	m := r.scrape(t)
	if n := m.sum("garssl_doa_hint_locates_total", map[string]string{"stream": "hinted", "result": gar.HintMoved}); n < 1 {
		t.Errorf("doa_hint_locates_total{hinted, moved} = %v", n)
	}
	if n := m.sum("garssl_doa_hint_locates_total", map[string]string{"stream": "plain"}); n != 0 {
		t.Errorf("doa_hint_locates_total{plain} = %v, want 0", n)
	}
	if n := m.sum("garssl_doa_windows_total", map[string]string{"stream": "behind", "outcome": gar.DoAOutsideFOV}); n < 1 {
		t.Errorf("doa_windows_total{behind, outside_fov} = %v", n)
	}
}

// fmtDeg prints an optional angle.
func fmtDeg(p *float64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprintf("%.1f°", *p)
}
