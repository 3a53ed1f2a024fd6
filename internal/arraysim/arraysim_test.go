package arraysim

import (
	"math"
	"testing"
)

// TestAddSincMatchesDirect: the rotations give the windowed sinc computed
// directly.
func TestAddSincMatchesDirect(t *testing.T) {
	for _, at := range []float64{20, 20.25, 33.7, 3.5, 40.999} {
		h := make([]float64, 64)
		addSinc(h, at, 2)
		for k := range h {
			x := float64(k) - at
			want := 0.0
			if math.Abs(x) < sincHalf {
				w := 0.5 + 0.5*math.Cos(math.Pi*x/sincHalf)
				s := 1.0
				if x != 0 {
					s = math.Sin(math.Pi*x) / (math.Pi * x)
				}
				want = 2 * w * s
			}
			if math.Abs(h[k]-want) > 1e-9 {
				t.Fatalf("t=%g k=%d: %g, want %g", at, k, h[k], want)
			}
		}
	}
}

// TestFarFieldDelays: a plane wave from the right (bearing 90°) reaches
// the right microphone (−y) first, by d/c.
func TestFarFieldDelays(t *testing.T) {
	const fs = 16000
	src := make([]float64, 1024)
	src[500] = 1
	ch := FarField(src, fs, Pair10cm(), 90, 0)
	// an impulse delayed by a fraction of a sample is a shifted sinc
	shift := 0.05 / SpeedOfSound * fs
	for i, lag := range []float64{shift, -shift} { // left hears it late, right early
		for t0 := 490; t0 < 510; t0++ {
			x := float64(t0) - 500 - lag
			want := math.Sin(math.Pi*x) / (math.Pi * x)
			if got := ch[i][t0]; math.Abs(got-want) > 0.01 {
				t.Fatalf("microphone %d sample %d: %g, want %g (a delay of %+.3f samples)", i, t0, got, want, lag)
			}
		}
	}
}

// TestRoomReverberationTime: the impulse response's energy decays by about
// 60 dB over RT60 (Schroeder integration, fitted between −5 and −25 dB).
func TestRoomReverberationTime(t *testing.T) {
	r := Room{Size: [3]float64{5, 4, 3}, RT60: 0.3}
	h := r.Impulse(16000, [3]float64{1, 1.2, 1.4}, [3]float64{3.1, 2.5, 1.1})
	edc := make([]float64, len(h))
	s := 0.0
	for i := len(h) - 1; i >= 0; i-- {
		s += h[i] * h[i]
		edc[i] = s
	}
	at := func(db float64) float64 {
		for i, v := range edc {
			if 10*math.Log10(v/edc[0]) <= db {
				return float64(i) / 16000
			}
		}
		return math.NaN()
	}
	t60 := 3 * (at(-25) - at(-5))
	t.Logf("RT60 estimated %.3f s; -10 %.3f -20 %.3f -30 %.3f -40 %.3f", t60, at(-10), at(-20), at(-30), at(-40))
	if t60 < 0.2 || t60 > 0.4 {
		t.Fatalf("RT60 %.3f s, want about 0.3 s", t60)
	}
}
