package doa_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/garssl/garssld/doa"
	"github.com/garssl/garssld/internal/arraysim"
)

// TestAccuracy holds the goals: medians of the errors over a table
// of directions, for each array, SNR and room.
func TestAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("renders reverberant scenes")
	}
	circle := func(from, to, step float64) []float64 {
		var a []float64
		for x := from; x <= to+1e-9; x += step {
			a = append(a, x)
		}
		return a
	}
	cases := []struct {
		name         string
		pos          [][3]float64
		reverb       bool
		snrDB        float64
		azs, els     []float64
		maxAz, maxEl float64 // goals on the medians, degrees
	}{
		{"respeaker4 10 dB reverberant", arraysim.ReSpeaker4(), true, 10, circle(-172.7, 180, 15), []float64{0}, 5, 0},
		{"respeaker4 20 dB reverberant", arraysim.ReSpeaker4(), true, 20, circle(-157.7, 180, 30), []float64{0}, 5, 0},
		{"respeaker4 0 dB reverberant", arraysim.ReSpeaker4(), true, 0, circle(-157.7, 180, 30), []float64{0}, 5, 0},
		{"pair 10 dB reverberant within ±60°", arraysim.Pair10cm(), true, 10, circle(-57.3, 60, 10), []float64{0}, 10, 0},
		{"tetrahedral 10 dB reverberant", arraysim.Tetra42(), true, 10, circle(-127.7, 180, 45), []float64{-27.1, 3.1, 33.1}, 10, 10},
		{"tetrahedral 20 dB free field", arraysim.Tetra42(), false, 20, circle(-127.7, 180, 45), []float64{-56.9, -16.9, 23.1, 63.1}, 10, 10},
	}
	for _, c := range cases {
		if raceEnabled {
			c.azs, c.els = thin(c.azs), thin(c.els)
		}
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 19))
			e, err := doa.New(doa.Array{Positions: c.pos}, rate, doa.Config{})
			if err != nil {
				t.Fatal(err)
			}
			var azErrs, elErrs []float64
			for _, el := range c.els {
				for _, az := range c.azs {
					ch := scene(rng, c.pos, c.reverb, c.snrDB, source{az, el, arraysim.Noise(rng, 3*rate), 0})
					r, err := e.Estimate(ch)
					if err != nil {
						t.Fatal(err)
					}
					if r == nil {
						t.Errorf("az %g el %g: no direction", az, el)
						azErrs = append(azErrs, 180)
						continue
					}
					azErrs = append(azErrs, azErr(r.AzimuthDeg, az))
					if c.maxEl > 0 {
						if r.ElevationDeg == nil {
							t.Fatalf("az %g el %g: no elevation from a 3-D array", az, el)
						}
						elErrs = append(elErrs, math.Abs(*r.ElevationDeg-el))
					} else if r.ElevationDeg != nil {
						t.Errorf("az %g: elevation %g from a planar or linear array", az, *r.ElevationDeg)
					}
					t.Logf("az %6.1f el %5.1f → az %6.1f el %v confidence %.2f", az, el, r.AzimuthDeg, fmtEl(r.ElevationDeg), r.Confidence)
				}
			}
			t.Logf("median azimuth error %.2f°, median elevation error %.2f°", median(azErrs), median(elErrs))
			// the median alone would pass an estimator right on only half
			// the directions (a pair with its sign flipped, say)
			if w := slices.Max(azErrs); w > 30 {
				t.Errorf("worst azimuth error %.2f° > 30°", w)
			}
			if m := median(azErrs); m > c.maxAz {
				t.Errorf("median azimuth error %.2f° > %g°", m, c.maxAz)
			}
			if c.maxEl > 0 {
				if m := median(elErrs); m > c.maxEl {
					t.Errorf("median elevation error %.2f° > %g°", m, c.maxEl)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// thin keeps every other element (under the race detector).
func thin(x []float64) []float64 {
	var out []float64
	for i := 0; i < len(x); i += 2 {
		out = append(out, x[i])
	}
	return out
}

func fmtEl(p *float64) any {
	if p == nil {
		return "-"
	}
	return math.Round(*p*10) / 10
}

// TestPairFrontSolution: a pair cannot tell front from back; a source
// behind it is reported at its mirror image in front, flagged ambiguous.
func TestPairFrontSolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pos := arraysim.Pair10cm()
	e, err := doa.New(doa.Array{Positions: pos}, rate, doa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ az, front float64 }{{150, 30}, {-120, -60}, {40, 40}, {180, 0}} {
		r, err := e.Estimate(scene(rng, pos, false, 20, source{c.az, 0, arraysim.Noise(rng, rate), 0}))
		if err != nil || r == nil {
			t.Fatalf("az %g: %v, %v", c.az, r, err)
		}
		if !r.Ambiguous || azErr(r.AzimuthDeg, c.front) > 5 {
			t.Errorf("az %g: got %.1f ambiguous %v, want %g ambiguous", c.az, r.AzimuthDeg, r.Ambiguous, c.front)
		}
	}
}

// TestFlatMapIsNoDirection: diffuse noise, uncorrelated noise and silence
// give nil, on every test array.
func TestFlatMapIsNoDirection(t *testing.T) {
	for _, arr := range testArrays {
		rng := rand.New(rand.NewPCG(5, 6))
		e, err := doa.New(doa.Array{Positions: arr.pos}, rate, doa.Config{})
		if err != nil {
			t.Fatal(err)
		}
		uncorrelated := make([][]float64, len(arr.pos))
		for i := range uncorrelated {
			uncorrelated[i] = arraysim.Noise(rng, 3*rate)
		}
		for _, c := range []struct {
			name string
			ch   [][]float32
		}{
			{"diffuse", arraysim.Float32(arraysim.Diffuse(rng, 3*rate, rate, arr.pos, 128), 0.5)},
			{"uncorrelated", arraysim.Float32(uncorrelated, 0.5)},
			{"silence", arraysim.Float32(make2(len(arr.pos), 3*rate), 0.5)},
		} {
			r, err := e.Estimate(c.ch)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				t.Errorf("%s %s: got azimuth %.1f confidence %.2f, want nil", arr.name, c.name, r.AzimuthDeg, r.Confidence)
			}
		}
	}
}

var testArrays = []struct {
	name string
	pos  [][3]float64
}{{"respeaker4", arraysim.ReSpeaker4()}, {"pair", arraysim.Pair10cm()}, {"tetrahedral", arraysim.Tetra42()}}

func make2(n, length int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, length)
	}
	return out
}

// TestConfidenceThresholds: the documented thresholds sit between diffuse
// noise (under FlatRatio) and a source 1 m away in the room at 0 dB SNR
// (at least ConfidentRatio), on every test array.
func TestConfidenceThresholds(t *testing.T) {
	if testing.Short() {
		t.Skip("renders reverberant scenes")
	}
	lax := doa.Config{MinRatio: 1.0000001} // report every map, to read its ratio
	for _, arr := range testArrays {
		rng := rand.New(rand.NewPCG(8, 9))
		e, err := doa.New(doa.Array{Positions: arr.pos}, rate, lax)
		if err != nil {
			t.Fatal(err)
		}
		noiseMax, sourceMin := 0.0, math.Inf(1)
		for i := 0; i < 4; i += 1 + btoi(raceEnabled) {
			r, err := e.Estimate(arraysim.Float32(arraysim.Diffuse(rng, 3*rate, rate, arr.pos, 128), 0.5))
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				noiseMax = math.Max(noiseMax, r.Confidence)
			}
			az := -60 + 40*float64(i)
			r, err = e.Estimate(scene(rng, arr.pos, true, 0, source{az, 0, arraysim.Noise(rng, 3*rate), 1}))
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				sourceMin = 0
			} else {
				sourceMin = math.Min(sourceMin, r.Confidence)
			}
		}
		t.Logf("%s: diffuse noise ratio ≤ %.3f, 0 dB reverberant source ratio ≥ %.3f", arr.name, noiseMax, sourceMin)
		if noiseMax >= doa.FlatRatio {
			t.Errorf("%s: diffuse noise reaches ratio %.3f ≥ FlatRatio %g", arr.name, noiseMax, doa.FlatRatio)
		}
		if sourceMin < doa.ConfidentRatio {
			t.Errorf("%s: a 0 dB source has ratio %.3f < ConfidentRatio %g", arr.name, sourceMin, doa.ConfidentRatio)
		}
	}
}

// TestTwoSources: two intermittent sources 60° apart at 10 dB SNR in the
// room are both found by the 4-microphone array.
func TestTwoSources(t *testing.T) {
	if testing.Short() {
		t.Skip("renders reverberant scenes")
	}
	rng := rand.New(rand.NewPCG(10, 11))
	pos := arraysim.ReSpeaker4()
	e, err := doa.New(doa.Array{Positions: pos}, rate, doa.Config{MaxSources: 2})
	if err != nil {
		t.Fatal(err)
	}
	var errs []float64
	firsts := []float64{-150, -90, -30, 0, 45, 100, 160}
	if raceEnabled {
		firsts = thin(firsts)
	}
	for _, first := range firsts {
		second := first + 60
		ch := scene(rng, pos, true, 10,
			source{first, 0, arraysim.Bursts(rng, 3*rate, rate), 0},
			source{second, 0, arraysim.Bursts(rng, 3*rate, rate), 0})
		r, err := e.Estimate(ch)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil || len(r.Peaks) < 2 {
			t.Errorf("sources at %g° and %g°: got %+v, want two peaks", first, second, r)
			errs = append(errs, 180, 180)
			continue
		}
		a, b := r.Peaks[0].AzimuthDeg, r.Peaks[1].AzimuthDeg
		e1, e2 := azErr(a, first), azErr(b, second)
		if s1, s2 := azErr(b, first), azErr(a, second); s1+s2 < e1+e2 {
			e1, e2 = s1, s2
		}
		t.Logf("sources %g° %g° → %.1f° (%.2f) %.1f° (%.2f)", first, second, a, r.Peaks[0].Confidence, b, r.Peaks[1].Confidence)
		errs = append(errs, e1, e2)
	}
	t.Logf("median error %.2f°", median(errs))
	if m := median(errs); m > 10 {
		t.Errorf("median error of the two sources %.2f° > 10°", m)
	}
}

// TestOneSourceOnePeak: asked for three peaks, a single source in the
// room gives one; its reflections stay under MinRelative.
func TestOneSourceOnePeak(t *testing.T) {
	if testing.Short() {
		t.Skip("renders reverberant scenes")
	}
	rng := rand.New(rand.NewPCG(12, 13))
	for _, arr := range testArrays {
		e, err := doa.New(doa.Array{Positions: arr.pos}, rate, doa.Config{MaxSources: 3})
		if err != nil {
			t.Fatal(err)
		}
		azs := []float64{-100, 20, 75}
		if raceEnabled {
			azs = thin(azs)
		}
		for _, az := range azs {
			for _, snr := range []float64{20, 0} {
				r, err := e.Estimate(scene(rng, arr.pos, true, snr, source{az, 0, arraysim.Noise(rng, 3*rate), 1}))
				if err != nil || r == nil {
					t.Fatalf("%s az %g at %g dB: %v, %v", arr.name, az, snr, r, err)
				}
				if len(r.Peaks) != 1 {
					t.Errorf("%s az %g at %g dB: peaks %+v, want one", arr.name, az, snr, r.Peaks)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		pos  [][3]float64
		ok   bool
	}{
		{"none", nil, false},
		{"one", [][3]float64{{0, 0, 0}}, false},
		{"coincident", [][3]float64{{0, 0, 0}, {0.1, 0, 0}, {0.1, 0.0005, 0}}, false},
		{"NaN", [][3]float64{{0, 0, 0}, {math.NaN(), 0, 0}}, false},
		{"infinite", [][3]float64{{0, 0, 0}, {0, math.Inf(1), 0}}, false},
		{"pair", [][3]float64{{0, 0, 0}, {0, 0.002, 0}}, true},
		{"respeaker", arraysim.ReSpeaker4(), true},
	} {
		err := doa.Array{Positions: c.pos}.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", c.name, err, c.ok)
		}
		_, nerr := doa.New(doa.Array{Positions: c.pos}, rate, doa.Config{})
		if (nerr == nil) != c.ok {
			t.Errorf("%s: New() = %v, want ok %v", c.name, nerr, c.ok)
		}
		if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	a := doa.Array{Positions: arraysim.ReSpeaker4()}
	for _, c := range []struct {
		name string
		rate int
		cfg  doa.Config
	}{
		{"rate", 500, doa.Config{}},
		{"negative", rate, doa.Config{MaxSources: -1}},
		{"frame not a power of two", rate, doa.Config{FrameSize: 500}},
		{"frame too small", rate, doa.Config{FrameSize: 32}},
		{"band inverted", rate, doa.Config{MinFreqHz: 3000, MaxFreqHz: 1000}},
		{"band above Nyquist", rate, doa.Config{MinFreqHz: 9000, MaxFreqHz: 12000}},
		{"fine coarser than coarse", rate, doa.Config{CoarseStepDeg: 2, FineStepDeg: 3}},
	} {
		if _, err := doa.New(a, c.rate, c.cfg); err == nil {
			t.Errorf("%s: New accepted %+v at %d Hz", c.name, c.cfg, c.rate)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestEstimateRejectsBadInput(t *testing.T) {
	e, err := doa.New(doa.Array{Positions: arraysim.Pair10cm()}, rate, doa.Config{})
	if err != nil {
		t.Fatal(err)
	}
	good := make([]float32, rate)
	nan := make([]float32, rate)
	nan[100] = float32(math.NaN())
	inf := make([]float32, rate)
	inf[7] = float32(math.Inf(-1))
	for _, c := range []struct {
		name string
		ch   [][]float32
	}{
		{"no channels", nil},
		{"one channel", [][]float32{good}},
		{"three channels", [][]float32{good, good, good}},
		{"unequal lengths", [][]float32{good, good[:rate-1]}},
		{"empty", [][]float32{{}, {}}},
		{"shorter than a frame", [][]float32{good[:100], good[:100]}},
		{"NaN", [][]float32{good, nan}},
		{"infinite", [][]float32{inf, good}},
	} {
		r, err := e.Estimate(c.ch)
		if !errors.Is(err, doa.ErrInput) || r != nil {
			t.Errorf("%s: Estimate = %v, %v; want nil and ErrInput", c.name, r, err)
		}
	}
}

// FuzzEstimate: odd lengths and values never panic; the result is an
// error, nil or a direction in range.
func FuzzEstimate(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint8(2), uint16(600))
	f.Add(make([]byte, 4096), uint8(4), uint16(2048))
	f.Add([]byte{0xff, 0xff, 0xc0, 0x7f}, uint8(4), uint16(1000))
	e4, err := doa.New(doa.Array{Positions: arraysim.ReSpeaker4()}, rate, doa.Config{MaxSources: 3})
	if err != nil {
		f.Fatal(err)
	}
	e3d, err := doa.New(doa.Array{Positions: arraysim.Tetra42()}, rate, doa.Config{MaxSources: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, nch uint8, length uint16) {
		n := int(nch % 6)
		ch := make([][]float32, n)
		for i := range ch {
			ch[i] = make([]float32, int(length)%4096+i%2)
			for j := range ch[i] {
				k := (i*len(ch[i]) + j) * 4
				if len(data) > 0 {
					b := [4]byte{data[k%len(data)], data[(k+1)%len(data)], data[(k+2)%len(data)], data[(k+3)%len(data)]}
					ch[i][j] = math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
				}
			}
		}
		for _, e := range []*doa.Estimator{e4, e3d} {
			r, err := e.Estimate(ch)
			if err != nil || r == nil {
				continue
			}
			if !(r.AzimuthDeg > -180 && r.AzimuthDeg <= 180) || r.Confidence < 1 || len(r.Peaks) == 0 {
				t.Fatalf("out of range: %+v", r)
			}
		}
	})
}
