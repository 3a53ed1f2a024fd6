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
	"encoding/binary"
	"io"
	"math"
	"math/cmplx"
	"math/rand/v2"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/garssl/garssld/eval/starss"
)

// SpeedOfSound in m/s, doa's default.
const SpeedOfSound = 343.0

// ReSpeaker4 is a ReSpeaker-like circular array of 4 microphones, radius
// 32 mm, at bearings 45°, 135°, −135° and −45°.
func ReSpeaker4() [][3]float64 { return Circle(4, 0.032, 45) }

// Pair10cm is a horizontal pair 10 cm apart on the y axis (left, right),
// like a stereo camera microphone facing +x.
func Pair10cm() [][3]float64 { return [][3]float64{{0, 0.05, 0}, {0, -0.05, 0}} }

// Tetra42 is STARSS23's MIC format (eval/starss.MicArray): a
// tetrahedron of radius 4.2 cm.
func Tetra42() [][3]float64 { return starss.MicArray().Positions }

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
	v := make([]complex128, bins)
	for d := 0; d < dirs; d++ {
		z := 1 - 2*(float64(d)+0.5)/float64(dirs)
		r := math.Sqrt(1 - z*z)
		u := [3]float64{r * math.Cos(golden*float64(d)), r * math.Sin(golden*float64(d)), z}
		for k := range v {
			v[k] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		for i, p := range positions {
			// the phase grows by the same step from bin to bin: rotate
			// rather than call sincos, renormalising now and then
			step := cmplx.Rect(1, 2*math.Pi*float64(sampleRate)/float64(size)*dot(p, u)/SpeedOfSound)
			w := complex(1, 0)
			for k := range v {
				acc[i][k] += v[k] * w
				w *= step
				if k%64 == 63 {
					w /= complex(cmplx.Abs(w), 0)
				}
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

// Room is a shoebox room for the image-source method (Allen and Berkley):
// Size in metres along x, y and z, every wall with the same reflection
// coefficient, set from RT60 by Sabine's formula. The room's axes are the
// array's.
type Room struct {
	Size [3]float64
	RT60 float64
}

// Beta is the walls' pressure reflection coefficient giving RT60:
// α = 0.161·V/(S·RT60) (Sabine), β = √(1−α).
func (r Room) Beta() float64 {
	v := r.Size[0] * r.Size[1] * r.Size[2]
	s := 2 * (r.Size[0]*r.Size[1] + r.Size[0]*r.Size[2] + r.Size[1]*r.Size[2])
	a := math.Min(1, 0.161*v/(s*r.RT60))
	return math.Sqrt(1 - a)
}

// sincHalf is the half-length of the windowed-sinc fractional delay that
// places each image in an impulse response.
const sincHalf = 16

// Impulse is the room's impulse response from src to mic, RT60 long: each
// image source within c·RT60 contributes β^reflections/(4π·distance) at
// its delay, with a Hann-windowed sinc for the fraction of a sample.
func (r Room) Impulse(sampleRate int, src, mic [3]float64) []float64 {
	fs := float64(sampleRate)
	maxDist := SpeedOfSound * r.RT60
	h := make([]float64, int(r.RT60*fs)+2*sincHalf+1)
	beta := r.Beta()
	var pow []float64 // β^n
	for n, b := 0, 1.0; n < 4*int(maxDist/math.Min(r.Size[0], math.Min(r.Size[1], r.Size[2])))+8; n++ {
		pow = append(pow, b)
		b *= beta
	}
	var lim [3]int
	for a := range lim {
		lim[a] = int(math.Ceil(maxDist/(2*r.Size[a]))) + 1
	}
	for nx := -lim[0]; nx <= lim[0]; nx++ {
		for ny := -lim[1]; ny <= lim[1]; ny++ {
			for nz := -lim[2]; nz <= lim[2]; nz++ {
				n := [3]int{nx, ny, nz}
				for q := 0; q < 8; q++ {
					var img [3]float64
					refl := 0
					for a := 0; a < 3; a++ {
						qa := (q >> a) & 1
						img[a] = float64(1-2*qa)*src[a] + 2*float64(n[a])*r.Size[a]
						refl += iabs(n[a]-qa) + iabs(n[a])
					}
					d := math.Sqrt(sq(img[0]-mic[0]) + sq(img[1]-mic[1]) + sq(img[2]-mic[2]))
					if d > maxDist {
						continue
					}
					if refl >= len(pow) {
						continue
					}
					amp := pow[refl] / (4 * math.Pi * math.Max(d, 0.01))
					t := d / SpeedOfSound * fs
					addSinc(h, t, amp)
				}
			}
		}
	}
	return h
}

// Render is what microphones at mics (room coordinates) hear of src played
// at source, with the room's reverberation.
func (r Room) Render(src []float64, sampleRate int, source [3]float64, mics [][3]float64) [][]float64 {
	hs := make([][]float64, len(mics))
	for i, m := range mics {
		hs[i] = r.Impulse(sampleRate, source, m)
	}
	return convolve(src, hs)
}

// Place is the array's microphones at centre, in room coordinates.
func Place(centre [3]float64, positions [][3]float64) [][3]float64 {
	out := make([][3]float64, len(positions))
	for i, p := range positions {
		out[i] = [3]float64{centre[0] + p[0], centre[1] + p[1], centre[2] + p[2]}
	}
	return out
}

// At is the point at distance metres from centre towards bearing azDeg and
// elevation elDeg.
func At(centre [3]float64, azDeg, elDeg, distance float64) [3]float64 {
	u := Unit(azDeg, elDeg)
	return [3]float64{centre[0] + distance*u[0], centre[1] + distance*u[1], centre[2] + distance*u[2]}
}

// convolve is x*h for each h (all as long), truncated to len(x), through
// the FFT; x is transformed once.
func convolve(x []float64, hs [][]float64) [][]float64 {
	n := nextPow2(len(x) + len(hs[0]))
	fft := fourier.NewFFT(n)
	buf := make([]float64, n)
	copy(buf, x)
	fx := fft.Coefficients(nil, buf)
	fh := make([]complex128, len(fx))
	out := make([][]float64, len(hs))
	for i, h := range hs {
		clear(buf)
		copy(buf, h)
		fft.Coefficients(fh, buf)
		for k := range fh {
			fh[k] *= fx[k]
		}
		fft.Sequence(buf, fh)
		out[i] = make([]float64, len(x))
		for t := range out[i] {
			out[i][t] = buf[t] / float64(n)
		}
	}
	return out
}

// windowStep is the Hann window's rotation per sample.
var windowStepSin, windowStepCos = math.Sincos(math.Pi / sincHalf)

// addSinc adds amp·w(k−t)·sinc(k−t) to h around t, w a Hann window of
// sincHalf samples each side. The sines and cosines come from one call
// each and rotations: sin(π(k−t)) = ±sin(πt), and the window's angle grows
// by π/sincHalf per sample.
func addSinc(h []float64, t, amp float64) {
	t0 := int(math.Floor(t))
	k := t0 - sincHalf + 1
	st := math.Sin(math.Pi * t)
	sign := -1.0 // −(−1)^k
	if k%2 != 0 {
		sign = 1
	}
	ws, wc := math.Sincos(math.Pi * (float64(k) - t) / sincHalf)
	dc, ds := windowStepCos, windowStepSin
	for ; k <= t0+sincHalf; k++ {
		x := float64(k) - t
		var sn float64
		if math.Abs(x) < 1e-12 {
			sn = 1
		} else {
			sn = sign * st / (math.Pi * x)
		}
		if k >= 0 && k < len(h) {
			h[k] += amp * (0.5 + 0.5*wc) * sn
		}
		sign = -sign
		wc, ws = wc*dc-ws*ds, ws*dc+wc*ds
	}
}

func sq(x float64) float64 { return x * x }

func iabs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// WriteWAV16 writes the channels (equal lengths, [−1, 1], clipped) as a
// 16-bit PCM WAVE file, interleaved.
func WriteWAV16(w io.Writer, rate int, channels [][]float32) error {
	n := 0
	if len(channels) > 0 {
		n = len(channels[0])
	}
	data := 2 * n * len(channels)
	h := make([]byte, 44, 44+data)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+data))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(len(channels)))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*2*len(channels)))
	binary.LittleEndian.PutUint16(h[32:], uint16(2*len(channels)))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(data))
	for i := 0; i < n; i++ {
		for _, ch := range channels {
			v := math.Max(-1, math.Min(1, float64(ch[i])))
			h = binary.LittleEndian.AppendUint16(h, uint16(int16(math.Round(v*32767))))
		}
	}
	_, err := w.Write(h)
	return err
}
