package doa

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// TestSpectraMatchRealFFT: two channels packed in one complex FFT give
// each channel's own real FFT, also for an odd channel count.
func TestSpectraMatchRealFFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{2, 3} {
		pos := make([][3]float64, m)
		for i := range pos {
			pos[i] = [3]float64{0.05 * float64(i), 0.01 * float64(i*i), 0}
		}
		e, err := New(Array{Positions: pos}, 16000, Config{})
		if err != nil {
			t.Fatal(err)
		}
		ch := make([][]float32, m)
		for i := range ch {
			ch[i] = make([]float32, 2*e.n)
			for j := range ch[i] {
				ch[i][j] = float32(rng.NormFloat64() * 0.1)
			}
		}
		const start = 100
		e.spectra(ch, start)
		fft := fourier.NewFFT(e.n)
		frame := make([]float64, e.n)
		for i := range ch {
			for j := range frame {
				frame[j] = float64(ch[i][start+j]) * e.window[j]
			}
			want := fft.Coefficients(nil, frame)
			for k := e.kmin; k <= e.kmax; k++ {
				if d := cmplx.Abs(e.spec[i][k] - want[k]); d > 1e-9*math.Max(1, cmplx.Abs(want[k])) {
					t.Fatalf("%d channels: channel %d bin %d: %v, want %v", m, i, k, e.spec[i][k], want[k])
				}
			}
		}
	}
}
