// Package arraysim synthesises what a microphone array hears, for tests:
// plane waves with exact fractional delays (applied in the frequency
// domain), white sensor noise at a given SNR, spherically isotropic
// diffuse noise, and reverberation from an image-source shoebox room.
//
// Frames and signs are doa's: positions in metres in REP 103 axes (x
// forward, y left, z up); azimuths in the bearing convention (0 on +x,
// positive to the right), elevations positive up.
package arraysim

import (
	"math"
	"math/cmplx"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"
)

// SpeedOfSound in m/s, doa's default.
const SpeedOfSound = 343.0

// ReSpeaker4 is a ReSpeaker-like circular array of 4 microphones, radius
// 32 mm, at bearings 45°, 135°, −135° and −45°.
func ReSpeaker4() [][3]float64 { return Circle(4, 0.032, 45) }

// Pair10cm is a horizontal pair 10 cm apart on the y axis (left, right),
// like a stereo camera microphone facing +x.
func Pair10cm() [][3]float64 { return [][3]float64{{0, 0.05, 0}, {0, -0.05, 0}} }

// Tetra42 is STARSS23's MIC format: a tetrahedron of radius 4.2 cm with
// capsules at (azimuth, elevation) = (45°, 35°), (−45°, −35°), (135°,
// −35°), (−135°, 35°) in the DCASE convention (azimuth counter-clockwise,
// positive left), so y = r·cos(el)·sin(az) here.
func Tetra42() [][3]float64 {
	var p [][3]float64
	for _, ae := range [][2]float64{{45, 35}, {-45, -35}, {135, -35}, {-135, 35}} {
		// DCASE azimuth is positive left: bearing = −azimuth.
		p = append(p, scale(Unit(-ae[0], ae[1]), 0.042))
	}
	return p
}

// Circle is n microphones on a horizontal circle of radius r, the first at
// bearing firstDeg, then every 360/n degrees to the left.
func Circle(n int, r, firstDeg float64) [][3]float64 {
	p := make([][3]float64, n)
	for i := range p {
		p[i] = scale(Unit(firstDeg-float64(i)*360/float64(n), 0), r)
	}
	return p
}

// Unit is the unit vector of bearing azDeg (positive right) and elevation
// elDeg (positive up) in REP 103 axes.
func Unit(azDeg, elDeg float64) [3]float64 {
	az, el := azDeg*math.Pi/180, elDeg*math.Pi/180
	return [3]float64{math.Cos(el) * math.Cos(az), -math.Cos(el) * math.Sin(az), math.Sin(el)}
}

// Noise is n samples of white Gaussian noise of unit variance.
func Noise(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

// Bursts is white noise gated on and off in random bursts of 100–400 ms
// (with 10 ms ramps), a stand-in for speech or an intermittent sound; two
// independent Bursts overlap only part of the time.
func Bursts(rng *rand.Rand, n, sampleRate int) []float64 {
	s := Noise(rng, n)
	g := make([]float64, n)
	ramp := sampleRate / 100
	for i := 0; i < n; {
		on := sampleRate/10 + rng.IntN(sampleRate*3/10)
		off := sampleRate/10 + rng.IntN(sampleRate*3/10)
		for j := 0; j < on && i+j < n; j++ {
			g[i+j] = math.Min(1, math.Min(float64(j), float64(on-j))/float64(ramp))
		}
		i += on + off
	}
	for i := range s {
		s[i] *= g[i]
	}
	return s
}

// FarField is what each microphone hears of a plane wave carrying src from
// bearing azDeg and elevation elDeg: src advanced by p·u/c at microphone
// p, exactly (a phase ramp over the spectrum of the zero-padded signal).
func FarField(src []float64, sampleRate int, positions [][3]float64, azDeg, elDeg float64) [][]float64 {
	u := Unit(azDeg, elDeg)
	n := nextPow2(len(src) + 256)
	fft := fourier.NewFFT(n)
	buf := make([]float64, n)
	copy(buf, src)
	spec := fft.Coefficients(nil, buf)
	out := make([][]float64, len(positions))
	shifted := make([]complex128, len(spec))
	for i, p := range positions {
		tau := dot(p, u) / SpeedOfSound
		for k, v := range spec {
			shifted[k] = v * cmplx.Rect(1, 2*math.Pi*fft.Freq(k)*float64(sampleRate)*tau)
		}
		seq := fft.Sequence(nil, shifted)
		ch := make([]float64, len(src))
		for t := range ch {
			ch[t] = seq[t] / float64(n)
		}
		out[i] = ch
	}
	return out
}

// Diffuse is n samples of spherically isotropic diffuse noise at the
// array: independent white noise from dirs directions spread evenly over
// the sphere (a Fibonacci lattice), made in the frequency domain. Each
// channel has unit variance.
func Diffuse(rng *rand.Rand, n, sampleRate int, positions [][3]float64, dirs int) [][]float64 {
	size := nextPow2(n)
	fft := fourier.NewFFT(size)
	bins := size/2 + 1
	acc := make([][]complex128, len(positions))
	for i := range acc {
		acc[i] = make([]complex128, bins)
	}
	golden := math.Pi * (3 - math.Sqrt(5))
	for d := 0; d < dirs; d++ {
		z := 1 - 2*(float64(d)+0.5)/float64(dirs)
		r := math.Sqrt(1 - z*z)
		u := [3]float64{r * math.Cos(golden*float64(d)), r * math.Sin(golden*float64(d)), z}
		for k := 0; k < bins; k++ {
			v := complex(rng.NormFloat64(), rng.NormFloat64())
			f := fft.Freq(k) * float64(sampleRate)
			for i, p := range positions {
				acc[i][k] += v * cmplx.Rect(1, 2*math.Pi*f*dot(p, u)/SpeedOfSound)
			}
		}
	}
	out := make([][]float64, len(positions))
	for i := range out {
		acc[i][0], acc[i][bins-1] = 0, 0
		seq := fft.Sequence(nil, acc[i])
		out[i] = normalise(seq[:n])
	}
	return out
}

// AddNoise adds independent white noise to each channel at snrDB below the
// channels' mean power.
func AddNoise(rng *rand.Rand, channels [][]float64, snrDB float64) {
	p := power(channels)
	sd := math.Sqrt(p / math.Pow(10, snrDB/10))
	for _, ch := range channels {
		for i := range ch {
			ch[i] += sd * rng.NormFloat64()
		}
	}
}

// Mix adds b to a, scaled to gainDB relative to a's mean power (b must
// have as many channels as a, each as long).
func Mix(a, b [][]float64, gainDB float64) {
	k := math.Sqrt(power(a) / power(b) * math.Pow(10, gainDB/10))
	for i := range a {
		for t := range a[i] {
			a[i][t] += k * b[i][t]
		}
	}
}

// Float32 scales the channels together so that the loudest sample is at
// peak (0 < peak ≤ 1) and converts them.
func Float32(channels [][]float64, peak float64) [][]float32 {
	m := 0.0
	for _, ch := range channels {
		for _, v := range ch {
			m = math.Max(m, math.Abs(v))
		}
	}
	k := 0.0
	if m > 0 {
		k = peak / m
	}
	out := make([][]float32, len(channels))
	for i, ch := range channels {
		out[i] = make([]float32, len(ch))
		for t, v := range ch {
			out[i][t] = float32(v * k)
		}
	}
	return out
}

func power(channels [][]float64) float64 {
	s, n := 0.0, 0
	for _, ch := range channels {
		for _, v := range ch {
			s += v * v
		}
		n += len(ch)
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

func normalise(x []float64) []float64 {
	p := power([][]float64{x})
	out := make([]float64, len(x))
	if p == 0 {
		return out
	}
	k := 1 / math.Sqrt(p)
	for i, v := range x {
		out[i] = v * k
	}
	return out
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func scale(a [3]float64, k float64) [3]float64 {
	return [3]float64{a[0] * k, a[1] * k, a[2] * k}
}
