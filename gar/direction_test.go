package gar

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/garssl/garssld/doa"
	"github.com/garssl/garssld/internal/arraysim"
	"github.com/garssl/garssld/media"
)

// boxAt is a 20-pixel-wide box of a 224-pixel picture whose bearing, with
// an hfov of 90°, is bearing (within a pixel).
func boxAt(bearing float64) Box {
	x := (math.Tan(bearing*math.Pi/180)/math.Tan(45*math.Pi/180) + 1) / 2 * 224
	c := int(math.Round(x - 0.5))
	return Box{c - 10, 100, c + 10, 140}
}

func TestAngleAndWrap(t *testing.T) {
	tests := []struct{ a, b, want float64 }{
		{10, -10, 20}, {170, -170, 20}, {-179, 179, 2}, {0, 180, 180}, {90, -90, 180}, {45, 45, 0}, {720, 0, 0},
	}
	for _, tt := range tests {
		if got := AngleDeg(tt.a, tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("AngleDeg(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	for in, want := range map[float64]float64{180: 180, -180: 180, 190: -170, -190: 170, 360: 0, 540: 180} {
		if got := wrapDeg(in); got != want {
			t.Errorf("wrapDeg(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestAssignPeaksIsOptimalAndOneToOne(t *testing.T) {
	tests := []struct {
		name     string
		bearings []float64
		peaks    []float64
		want     []int
	}{
		{"one box, nearest peak", []float64{10}, []float64{-30, 12}, []int{1}},
		// Greedy nearest would give both boxes peak 0 (or box 0 peak 0 and
		// box 1 peak 1 at a cost of 2+58); the optimum pairs crosswise.
		{"duet, crosswise", []float64{0, 30}, []float64{28, -25}, []int{1, 0}},
		{"duet, both near one peak", []float64{10, 12}, []float64{11, -60}, []int{1, 0}},
		{"more boxes than peaks", []float64{-20, 20}, []float64{18}, []int{0, 0}},
		{"no peaks", []float64{0}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AssignPeaks(tt.bearings, len(tt.peaks), func(b float64, p int) float64 { return AngleDeg(b, tt.peaks[p]) })
			if tt.name == "duet, both near one peak" {
				// Either pairing costs the same in sum order; what counts
				// is that the peaks differ.
				if len(got) != 2 || got[0] == got[1] {
					t.Errorf("got %v, want two different peaks", got)
				}
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAgreementPerSource(t *testing.T) {
	dir := &DoAInfo{AzimuthDeg: 20, Confidence: 1.5, Confident: true, Peaks: []DoAPeak{{AzimuthDeg: 20, Confidence: 1.5}, {AzimuthDeg: -30, Confidence: 1.3}}}
	got := dir.Agreement([]Box{boxAt(-28), boxAt(25)}, 224, 90)
	if len(got) != 2 || got[0] > 3 || math.Abs(got[1]-5) > 1 {
		t.Errorf("duet agreement %v, want about [2, 5]", got)
	}
	if got := dir.Agreement([]Box{boxAt(0)}, 224, 90); len(got) != 1 || math.Abs(got[0]-20) > 1 {
		t.Errorf("single agreement %v, want about 20 (the nearest peak)", got)
	}
	if got := dir.Agreement([]Box{boxAt(0)}, 224, 0); got != nil {
		t.Errorf("without a camera: %v, want nil", got)
	}
	if got := (&DoAInfo{Flat: true}).Agreement([]Box{boxAt(0)}, 224, 90); got != nil {
		t.Errorf("flat: %v, want nil", got)
	}
	// A pair on the y axis cannot tell 30° from 150°: a box at 30° agrees
	// with a front solution reported as 150° (a pair mounted backwards).
	pair := &DoAInfo{AzimuthDeg: 150, Confident: true, Ambiguous: true, axisDeg: 90, Peaks: []DoAPeak{{AzimuthDeg: 150, Confidence: 2}}}
	if got := pair.Agreement([]Box{boxAt(30)}, 224, 90); got[0] > 1 {
		t.Errorf("ambiguous pair agreement %v, want the mirror image's (about 0)", got)
	}
}

func TestHintTrigger(t *testing.T) {
	peak := func(az, conf float64) DoAPeak { return DoAPeak{AzimuthDeg: az, Confidence: conf} }
	info := func(ps ...DoAPeak) *DoAInfo {
		return &DoAInfo{AzimuthDeg: ps[0].AzimuthDeg, Confidence: ps[0].Confidence, Confident: ps[0].Confidence >= doa.ConfidentRatio, Peaks: ps}
	}
	tests := []struct {
		name  string
		dir   *DoAInfo
		boxes []Box
		hfov  float64
		want  string
	}{
		{"agrees within tolerance", info(peak(-30, 2)), []Box{boxAt(-20)}, 90, ""},
		{"disagrees", info(peak(-30, 2)), []Box{boxAt(25)}, 90, "the left third"},
		{"weak direction", info(peak(-30, 1.08)), []Box{boxAt(25)}, 90, ""},
		{"flat", &DoAInfo{Flat: true}, []Box{boxAt(25)}, 90, ""},
		{"no direction", nil, []Box{boxAt(25)}, 90, ""},
		{"no camera", info(peak(-30, 2)), []Box{boxAt(25)}, 0, ""},
		{"behind the camera", info(peak(170, 2)), []Box{boxAt(25)}, 90, ""},
		{"middle", info(peak(2, 2)), []Box{boxAt(40)}, 90, "the middle third"},
		{"right", info(peak(35, 2)), []Box{boxAt(-30)}, 90, "the right third"},
		{"the strongest peak speaks for one box", info(peak(35, 2), peak(-30, 1.5)), []Box{boxAt(-30)}, 90, "the right third"},
		{"duet agrees", info(peak(35, 2), peak(-30, 1.5)), []Box{boxAt(-30), boxAt(33)}, 90, ""},
		{"duet, one box off", info(peak(35, 2), peak(-30, 1.5)), []Box{boxAt(0), boxAt(33)}, 90, "the right third and the left third"},
		{"duet, a weak second peak", info(peak(35, 2), peak(-30, 1.05)), []Box{boxAt(0), boxAt(33)}, 90, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dir.Hint(tt.boxes, 224, tt.hfov, 15); got != tt.want {
				t.Errorf("Hint = %q, want %q", got, tt.want)
			}
		})
	}
	// An ambiguous pair along the optical axis: 20° and −20° are one
	// measurement, in two regions; no hint can name one.
	axial := &DoAInfo{AzimuthDeg: 20, Confidence: 2, Confident: true, Ambiguous: true, axisDeg: 0, Peaks: []DoAPeak{peak(20, 2)}}
	if got := axial.Hint([]Box{boxAt(-40)}, 224, 90, 15); got != "" {
		t.Errorf("ambiguous across regions: hint %q, want none", got)
	}
}

func TestRegionOfFollowsTheBearingModel(t *testing.T) {
	// With hfov 90°, tan(45°) = 1: x = (tan(b)+1)/2, so thirds end where
	// tan(b) = ∓1/3, at ∓18.43°.
	tests := map[float64]string{-44: "the left third", -18.6: "the left third", -18.2: "the middle third", 0: "the middle third", 18.2: "the middle third", 18.6: "the right third", 44: "the right third"}
	for b, want := range tests {
		if got := RegionOf(b, 90); got != want {
			t.Errorf("RegionOf(%v) = %q, want %q", b, got, want)
		}
	}
}

func TestLocatePromptsCarryTheHintOnlyWhenGiven(t *testing.T) {
	with := RenderLocate(LocateData{Width: 224, Height: 224, Hint: "the left third"})
	if !strings.Contains(with, "the sound comes from the left third of the picture") {
		t.Errorf("hinted locate prompt:\n%s", with)
	}
	if without := RenderLocate(LocateData{Width: 224, Height: 224}); strings.Contains(without, "hint") || strings.Replace(with, "\nDirection hint: a microphone array hears that the sound comes from the left third of the picture.", "", 1) != without {
		t.Errorf("the hint must be one optional line:\n%s", without)
	}
	multi := RenderLocateMulti(LocateMultiData{Width: 224, Height: 224, Sources: 2, Hint: "the left third and the right third"})
	if !strings.Contains(multi, "the sounds come from the left third and the right third of the picture") {
		t.Errorf("hinted multi locate prompt:\n%s", multi)
	}
}

// direction synthesises 3 s of noise bursts from azDeg (array frame) at a
// ReSpeaker-like array, 16 kHz, at 20 dB SNR.
func arrayAudio(t *testing.T, azDeg float64, seed uint64) *media.ArrayAudio {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	src := arraysim.Bursts(rng, 3*16000, 16000)
	ch := arraysim.FarField(src, 16000, arraysim.ReSpeaker4(), azDeg, 0)
	arraysim.AddNoise(rng, ch, 20)
	return &media.ArrayAudio{Rate: 16000, Channels: arraysim.Float32(ch, 0.5)}
}

type doaCounts struct{ windows, hints map[string]int }

func (c *doaCounts) DoAWindow(_, outcome string) { c.windows[outcome]++ }
func (c *doaCounts) DoAHint(_, result string)    { c.hints[result]++ }

func TestDirectionMapsToTheCameraAndFlagsOutsideFOV(t *testing.T) {
	counts := &doaCounts{windows: map[string]int{}, hints: map[string]int{}}
	d, err := NewDirection(DirectionConfig{Stream: "front", Positions: arraysim.ReSpeaker4(), YawOffsetDeg: 30, ToleranceDeg: 15, MaxSources: 2, Observer: counts})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		arrayAz         float64
		hfov            float64
		wantAz          float64
		wantOutside     bool
		wantOutcomeName string
	}{
		{"in view", -20, 90, 10, false, DoAConfident},
		{"behind", 150, 90, 180, true, DoAOutsideFOV},
		{"just outside", 20, 90, 50, true, DoAOutsideFOV},
		{"no camera", 150, 0, 180, false, DoAConfident},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counts.windows[tt.wantOutcomeName]
			got, err := d.Estimate(arrayAudio(t, tt.arrayAz, uint64(i)), tt.hfov)
			if err != nil || got == nil || got.Flat {
				t.Fatalf("Estimate = %+v, %v", got, err)
			}
			if AngleDeg(got.AzimuthDeg, tt.wantAz) > 5 || !got.Confident || got.OutsideFOV != tt.wantOutside {
				t.Errorf("azimuth %.1f (want %v±5), confident %v, outside_fov %v (want %v)", got.AzimuthDeg, tt.wantAz, got.Confident, got.OutsideFOV, tt.wantOutside)
			}
			if got.Peaks[0].AzimuthDeg != got.AzimuthDeg {
				t.Errorf("peaks[0] %v is not the azimuth %v", got.Peaks[0].AzimuthDeg, got.AzimuthDeg)
			}
			if counts.windows[tt.wantOutcomeName] != before+1 {
				t.Errorf("outcome counts %v, want one more %s", counts.windows, tt.wantOutcomeName)
			}
		})
	}
	silence := &media.ArrayAudio{Rate: 16000, Channels: make([][]float32, 4)}
	for i := range silence.Channels {
		silence.Channels[i] = make([]float32, 3*16000)
	}
	if got, err := d.Estimate(silence, 90); err != nil || got == nil || !got.Flat {
		t.Errorf("silence: %+v, %v; want a flat direction", got, err)
	} else if b, _ := json.Marshal(AudioInfo{DoA: got}); !strings.Contains(string(b), `"doa":null`) {
		t.Errorf("a flat direction marshals as %s, want null", b)
	}
	if _, err := d.Estimate(&media.ArrayAudio{Rate: 16000, Channels: silence.Channels[:2]}, 90); err == nil || counts.windows[DoAError] != 1 {
		t.Errorf("two channels for four microphones: %v, counts %v", err, counts.windows)
	}
	if _, err := d.Estimate(nil, 90); err == nil || counts.windows[DoAError] != 2 {
		t.Errorf("no array audio: %v, counts %v", err, counts.windows)
	}
}

func TestDirectionRejectsABadArray(t *testing.T) {
	for _, cfg := range []DirectionConfig{
		{Positions: [][3]float64{{0, 0, 0}}},
		{Positions: [][3]float64{{0, 0, 0}, {0, 0, 0}}},
		{Positions: arraysim.Pair10cm(), ToleranceDeg: -1},
	} {
		if _, err := NewDirection(cfg); err == nil {
			t.Errorf("NewDirection(%+v) accepted", cfg)
		}
	}
}

func TestDetectionWithDirectionValidates(t *testing.T) {
	sch := compileSchema(t, "detection.v1", DetectionSchema)
	el := 12.5
	ok := baseDetection(StatusOK)
	ok.Audio.Label, ok.Audio.Confidence = "beep", 0.9
	ok.Audio.DoA = &DoAInfo{AzimuthDeg: -21.5, ElevationDeg: &el, Confidence: 1.8, Confident: true,
		Peaks: []DoAPeak{{AzimuthDeg: -21.5, ElevationDeg: &el, Confidence: 1.8}, {AzimuthDeg: 40, Confidence: 1.2}}}
	ok.GAR.DoAHint = true
	src := okSource(Box{50, 60, 150, 160}, Box{46, 56, 154, 164}, "beep")
	agreement := 3.25
	src.DoAAgreementDeg = &agreement
	ok.Sources = []SourceResult{src}

	flat := baseDetection(StatusMLLMUnavailable)
	flat.Audio.DoA = &DoAInfo{Flat: true}

	behind := baseDetection(StatusMLLMUnavailable)
	behind.Audio.DoA = &DoAInfo{AzimuthDeg: 180, Confidence: 2, Confident: true, Ambiguous: true, OutsideFOV: true, Peaks: []DoAPeak{{AzimuthDeg: 180, Confidence: 2}}}

	for name, d := range map[string]Detection{"ok with direction": ok, "flat": flat, "outside the picture": behind} {
		text := marshal(t, d)
		if err := validate(t, sch, text); err != nil {
			t.Errorf("%s: payload rejected: %v\n%s", name, err, text)
		}
	}
	if text := marshal(t, flat); !strings.Contains(text, `"doa":null`) {
		t.Errorf("flat: %s", text)
	}
	if text := marshal(t, behind); !strings.Contains(text, `"outside_fov":true`) || strings.Contains(text, "elevation_deg") {
		t.Errorf("behind: %s", text)
	}
	if text := marshal(t, baseDetection(StatusOK)); strings.Contains(text, "doa") {
		t.Errorf("without an array the payload names no doa member: %s", text)
	}

	edit := editor(t, marshal(t, ok))
	doaOf := func(m map[string]any) map[string]any { return m["audio"].(map[string]any)["doa"].(map[string]any) }
	for name, text := range map[string]string{
		"azimuth past 180":       edit(func(m map[string]any) { doaOf(m)["azimuth_deg"] = 181 }),
		"azimuth -180":           edit(func(m map[string]any) { doaOf(m)["azimuth_deg"] = -180 }),
		"elevation past 90":      edit(func(m map[string]any) { doaOf(m)["elevation_deg"] = 91 }),
		"no confident":           edit(func(m map[string]any) { delete(doaOf(m), "confident") }),
		"no outside_fov":         edit(func(m map[string]any) { delete(doaOf(m), "outside_fov") }),
		"a peak with a label":    edit(func(m map[string]any) { doaOf(m)["peaks"].([]any)[0].(map[string]any)["label"] = "beep" }),
		"five peaks":             edit(func(m map[string]any) { doaOf(m)["peaks"] = []any{1, 2, 3, 4, 5} }),
		"doa a number":           edit(func(m map[string]any) { m["audio"].(map[string]any)["doa"] = 12 }),
		"agreement past 180":     edit(func(m map[string]any) { source(m)["doa_agreement_deg"] = 181 }),
		"negative agreement":     edit(func(m map[string]any) { source(m)["doa_agreement_deg"] = -1 }),
		"doa_hint not a boolean": edit(func(m map[string]any) { m["gar"].(map[string]any)["doa_hint"] = "yes" }),
	} {
		if err := validate(t, sch, text); err == nil {
			t.Errorf("%s: payload accepted:\n%s", name, text)
		}
	}
}
