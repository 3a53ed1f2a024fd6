package doa

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
)

// ConfidentRatio is the peak-to-mean ratio of the SRP map from which a
// direction is confident. Chosen from the synthetic tests (doa_test.go,
// TestConfidenceThresholds): diffuse noise stays under it on every test
// array and a broadband source at 0 dB SNR clears it.
const ConfidentRatio = 1.10

// FlatRatio is the default Config.MinRatio: under it the map is flat and
// Estimate reports no direction. Diffuse noise and uncorrelated sensor
// noise stay under it in the synthetic tests.
const FlatRatio = 1.06

// ErrInput marks channels Estimate cannot use (wrong count, unequal or too
// short lengths, NaN or infinite samples); the caller should skip the
// window rather than retry it.
var ErrInput = errors.New("doa: unusable input")

// speedOfSound is the default speed of sound in air at about 20 °C (m/s).
const speedOfSound = 343.0

// Array is a microphone array's geometry in metres, in the array's frame
// following ROS REP 103: x forward, y left, z up.
type Array struct{ Positions [][3]float64 }

// minSpacing is the distance under which two microphones count as one.
const minSpacing = 1e-3

// Validate checks that the array has at least two microphones at finite,
// distinct positions.
func (a Array) Validate() error {
	if len(a.Positions) < 2 {
		return fmt.Errorf("doa: a microphone array needs at least 2 microphones, got %d", len(a.Positions))
	}
	for i, p := range a.Positions {
		for _, v := range p {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("doa: microphone %d has a non-finite position %v", i, p)
			}
		}
	}
	for i := range a.Positions {
		for j := i + 1; j < len(a.Positions); j++ {
			if d := dist(a.Positions[i], a.Positions[j]); d < minSpacing {
				return fmt.Errorf("doa: microphones %d and %d are %.4f m apart (coincident; they must be at least %g m apart)", i, j, d, minSpacing)
			}
		}
	}
	return nil
}

// Config tunes an Estimator. Zero values mean the documented defaults.
type Config struct {
	// MaxSources is the number of peaks reported, default 1.
	MaxSources int
	// FrameSize is the STFT frame in samples, a power of two ≥ 64;
	// default the largest power of two not over 32 ms (512 at 16 kHz and
	// 24 kHz, 1024 at 48 kHz).
	FrameSize int
	// Hop is the STFT hop in samples, at most FrameSize; default
	// FrameSize (frames side by side: half the FFTs of a half-frame hop,
	// for the same accuracy in the tests, since PHAT averages the frames
	// rather than resynthesising the signal).
	Hop int
	// MinFreqHz and MaxFreqHz bound the band used; defaults 200 Hz and
	// the lower of 10 kHz and 90 % of the Nyquist frequency.
	MinFreqHz, MaxFreqHz float64
	// CoarseStepDeg is the coarse grid's spacing, default 4°;
	// FineStepDeg the refinement's, default 0.5°.
	CoarseStepDeg, FineStepDeg float64
	// SuppressDeg is the angle around a reported peak within which no
	// other peak is reported, default 25°. Coarse local maxima are
	// refined strongest first, at most 4·MaxSources of them.
	SuppressDeg float64
	// MinRatio is the peak-to-mean ratio under which the map counts as
	// flat (no direction), default FlatRatio. A peak other than the
	// strongest is reported only when its own ratio reaches MinRatio.
	MinRatio float64
	// MinRelative keeps a peak other than the strongest only when its
	// excess over the map's mean (Confidence − 1) is at least MinRelative
	// times the strongest's, default 0.5: a single source's reflections
	// and sidelobes stay near a quarter of its excess in the tests, two
	// sources of equal level near nine tenths.
	MinRelative float64
	// GateDB keeps the frames whose energy is within GateDB of the
	// window's mean frame energy (quieter frames carry little but noise
	// and PHAT would weigh them fully), default 10 dB.
	GateDB float64
	// SpeedOfSound in m/s, default 343.
	SpeedOfSound float64
}

// Result is the direction of the strongest peak and the peaks found.
type Result struct {
	// AzimuthDeg of the strongest peak: bearing convention, positive to
	// the right of the array's +x axis, in (−180, 180].
	AzimuthDeg float64
	// ElevationDeg, positive up, is nil when the geometry is planar or
	// linear and gives no elevation.
	ElevationDeg *float64
	// Confidence is the strongest peak's peak-to-mean ratio of the SRP
	// map; ≥ ConfidentRatio is confident.
	Confidence float64
	// Ambiguous is set for linear arrays (a pair): the mirror image
	// across the array's axis is as likely; the front solution is given.
	Ambiguous bool
	// Peaks holds up to MaxSources peaks, strongest first, none within
	// SuppressDeg of a stronger one; Peaks[0] is the strongest.
	Peaks []Peak
}

// Peak is one direction of the SRP map.
type Peak struct {
	AzimuthDeg   float64
	ElevationDeg *float64
	Confidence   float64
}

type geometry int

const (
	linear geometry = iota
	planar
	spatial
)

// direction is a grid point: bearing azimuth and elevation in degrees and
// the unit vector in the array's frame.
type direction struct {
	az, el float64
	u      [3]float64
}

// lagOversample is the GCC lag grid's points per sample.
const lagOversample = 8

// Estimator holds the precomputed grids, tables and buffers for one array
// and sample rate. It is NOT safe for concurrent use: give each goroutine
// its own.
type Estimator struct {
	pos        [][3]float64
	fs         float64
	cfg        Config
	geom       geometry
	axis       [3]float64 // linear arrays: the unit axis
	pairs      [][2]int
	n          int // frame size
	kmin, kmax int
	fft        *fourier.FFT
	window     []float64
	maxLag     int // lag grid half-width in lag units
	lagTable   [][]complex128
	coarse     []direction
	coarseLag  [][]float64 // [dir][pair] lag in lag units
	neighbors  [][]int     // spatial grid: indexes within 1.6 steps

	// buffers reused across calls
	frame []float64
	spec  [][]complex128
	cross [][]complex128
	gcc   [][]float64
	cmap  []float64
}

// New prepares an Estimator for the array at sampleRate Hz.
func New(a Array, sampleRate int, cfg Config) (*Estimator, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if sampleRate < 1000 {
		return nil, fmt.Errorf("doa: sample rate %d Hz is too low (at least 1000)", sampleRate)
	}
	fs := float64(sampleRate)
	c, err := resolve(cfg, fs)
	if err != nil {
		return nil, err
	}
	e := &Estimator{pos: append([][3]float64(nil), a.Positions...), fs: fs, cfg: c, n: c.FrameSize}
	e.geom, e.axis = classify(e.pos)
	m := len(e.pos)
	maxDist := 0.0
	for i := 0; i < m; i++ {
		for j := i + 1; j < m; j++ {
			e.pairs = append(e.pairs, [2]int{i, j})
			maxDist = math.Max(maxDist, dist(e.pos[i], e.pos[j]))
		}
	}
	e.kmin = int(math.Ceil(c.MinFreqHz * float64(e.n) / fs))
	e.kmax = int(math.Floor(c.MaxFreqHz * float64(e.n) / fs))
	if e.kmin < 1 {
		e.kmin = 1
	}
	if e.kmax > e.n/2-1 {
		e.kmax = e.n/2 - 1
	}
	if e.kmax < e.kmin {
		return nil, fmt.Errorf("doa: the band %g–%g Hz holds no frequency bin at frame size %d and %d Hz", c.MinFreqHz, c.MaxFreqHz, e.n, sampleRate)
	}
	e.fft = fourier.NewFFT(e.n)
	e.window = make([]float64, e.n)
	for i := range e.window {
		e.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(e.n))
	}
	e.maxLag = int(math.Ceil(maxDist/c.SpeedOfSound*fs*lagOversample)) + 2
	nb := e.kmax - e.kmin + 1
	e.lagTable = make([][]complex128, 2*e.maxLag+1)
	for l := range e.lagTable {
		t := float64(l-e.maxLag) / lagOversample
		row := make([]complex128, nb)
		for b := range row {
			k := e.kmin + b
			row[b] = cmplx.Rect(1, 2*math.Pi*float64(k)*t/float64(e.n))
		}
		e.lagTable[l] = row
	}
	e.coarse = e.grid()
	e.coarseLag = make([][]float64, len(e.coarse))
	for i, d := range e.coarse {
		e.coarseLag[i] = e.lags(d.u, nil)
	}
	if e.geom == spatial {
		e.neighbors = neighbors(e.coarse, 1.6*c.CoarseStepDeg)
	}
	e.frame = make([]float64, e.n)
	e.spec = make([][]complex128, m)
	for i := range e.spec {
		e.spec[i] = make([]complex128, e.n/2+1)
	}
	e.cross = make([][]complex128, len(e.pairs))
	e.gcc = make([][]float64, len(e.pairs))
	for p := range e.pairs {
		e.cross[p] = make([]complex128, nb)
		e.gcc[p] = make([]float64, 2*e.maxLag+1)
	}
	e.cmap = make([]float64, len(e.coarse))
	return e, nil
}

func resolve(c Config, fs float64) (Config, error) {
	if c.MaxSources < 0 || c.FrameSize < 0 || c.MinFreqHz < 0 || c.MaxFreqHz < 0 || c.CoarseStepDeg < 0 ||
		c.Hop < 0 || c.FineStepDeg < 0 || c.SuppressDeg < 0 || c.MinRatio < 0 || c.MinRelative < 0 || c.MinRelative > 1 || c.GateDB < 0 || c.SpeedOfSound < 0 {
		return c, fmt.Errorf("doa: negative setting (or MinRelative over 1) in %+v (zero means the default)", c)
	}
	if c.MaxSources == 0 {
		c.MaxSources = 1
	}
	if c.FrameSize == 0 {
		c.FrameSize = 64
		for c.FrameSize*2 <= int(0.032*fs) {
			c.FrameSize *= 2
		}
	}
	if c.FrameSize < 64 || c.FrameSize&(c.FrameSize-1) != 0 {
		return c, fmt.Errorf("doa: frame size %d is not a power of two ≥ 64", c.FrameSize)
	}
	if c.Hop == 0 {
		c.Hop = c.FrameSize
	}
	if c.Hop > c.FrameSize {
		return c, fmt.Errorf("doa: hop %d is longer than the frame %d", c.Hop, c.FrameSize)
	}
	if c.MinFreqHz == 0 {
		c.MinFreqHz = 200
	}
	if c.MaxFreqHz == 0 {
		c.MaxFreqHz = math.Min(10000, 0.9*fs/2)
	}
	if c.MaxFreqHz <= c.MinFreqHz {
		return c, fmt.Errorf("doa: max_freq %g Hz is not above min_freq %g Hz", c.MaxFreqHz, c.MinFreqHz)
	}
	if c.CoarseStepDeg == 0 {
		c.CoarseStepDeg = 4
	}
	if c.FineStepDeg == 0 {
		c.FineStepDeg = 0.5
	}
	if c.CoarseStepDeg > 30 || c.FineStepDeg > c.CoarseStepDeg {
		return c, fmt.Errorf("doa: grid steps coarse %g° and fine %g° must satisfy fine ≤ coarse ≤ 30°", c.CoarseStepDeg, c.FineStepDeg)
	}
	if c.SuppressDeg == 0 {
		c.SuppressDeg = 25
	}
	if c.MinRatio == 0 {
		c.MinRatio = FlatRatio
	}
	if c.MinRelative == 0 {
		c.MinRelative = 0.5
	}
	if c.GateDB == 0 {
		c.GateDB = 10
	}
	if c.SpeedOfSound == 0 {
		c.SpeedOfSound = speedOfSound
	}
	return c, nil
}

// classify tells linear, planar (assumed horizontal) and 3-D arrays apart,
// with a 1 mm tolerance.
func classify(pos [][3]float64) (geometry, [3]float64) {
	p0 := pos[0]
	var axis [3]float64
	for _, p := range pos[1:] {
		d := sub(p, p0)
		if norm(d) >= minSpacing {
			axis = scale(d, 1/norm(d))
			break
		}
	}
	var normal [3]float64
	found := false
	for _, p := range pos[1:] {
		d := sub(p, p0)
		cr := cross3(axis, d)
		if norm(cr) >= minSpacing {
			normal = scale(cr, 1/norm(cr))
			found = true
			break
		}
	}
	if !found {
		return linear, axis
	}
	for _, p := range pos[1:] {
		if math.Abs(dot(sub(p, p0), normal)) >= minSpacing {
			return spatial, axis
		}
	}
	return planar, axis
}

// unit is the direction of bearing az (positive right) and elevation el,
// in REP 103 axes.
func unit(azDeg, elDeg float64) [3]float64 {
	az, el := azDeg*math.Pi/180, elDeg*math.Pi/180
	return [3]float64{math.Cos(el) * math.Cos(az), -math.Cos(el) * math.Sin(az), math.Sin(el)}
}

// grid is the coarse search grid.
func (e *Estimator) grid() []direction {
	step := e.cfg.CoarseStepDeg
	var g []direction
	if e.geom != spatial {
		n := int(math.Round(360 / step))
		for i := 0; i < n; i++ {
			az := normAz(float64(i) * 360 / float64(n))
			g = append(g, direction{az: az, u: unit(az, 0)})
		}
		return g
	}
	rings := int(math.Round(180 / step))
	for r := 0; r <= rings; r++ {
		el := -90 + float64(r)*180/float64(rings)
		n := int(math.Round(360 * math.Cos(el*math.Pi/180) / step))
		if n < 1 {
			n = 1
		}
		for i := 0; i < n; i++ {
			az := normAz(float64(i) * 360 / float64(n))
			g = append(g, direction{az: az, el: el, u: unit(az, el)})
		}
	}
	return g
}

func neighbors(g []direction, maxDeg float64) [][]int {
	cosMax := math.Cos(maxDeg * math.Pi / 180)
	nb := make([][]int, len(g))
	for i := range g {
		for j := range g {
			if i != j && dot(g[i].u, g[j].u) >= cosMax {
				nb[i] = append(nb[i], j)
			}
		}
	}
	return nb
}

// lags is each pair's delay, in lag units, for a plane wave from u:
// microphone i hears the wave (p_i·u)/c earlier than the origin.
func (e *Estimator) lags(u [3]float64, dst []float64) []float64 {
	dst = dst[:0]
	k := e.fs * lagOversample / e.cfg.SpeedOfSound
	for _, pr := range e.pairs {
		d := sub(e.pos[pr[0]], e.pos[pr[1]])
		dst = append(dst, -dot(d, u)*k)
	}
	return dst
}

// power is the SRP at the lags of one direction.
func (e *Estimator) power(lags []float64) float64 {
	p := float64(len(e.pos))
	for i, l := range lags {
		x := l + float64(e.maxLag)
		i0 := int(math.Floor(x))
		if i0 < 0 {
			i0 = 0
		}
		if i0 >= len(e.gcc[i])-1 {
			i0 = len(e.gcc[i]) - 2
		}
		f := x - float64(i0)
		g := e.gcc[i]
		p += 2 * (g[i0]*(1-f) + g[i0+1]*f)
	}
	return p
}

// Estimate returns nil, nil when the SRP map is flat (silence, diffuse
// noise): no direction. channels[i] are the samples of microphone i (same
// order as Positions), all the same length, float32 in [-1,1]. Errors wrap
// ErrInput.
func (e *Estimator) Estimate(channels [][]float32) (*Result, error) {
	if len(channels) != len(e.pos) {
		return nil, fmt.Errorf("%w: %d channels for %d microphones", ErrInput, len(channels), len(e.pos))
	}
	length := len(channels[0])
	for i, ch := range channels {
		if len(ch) != length {
			return nil, fmt.Errorf("%w: channel %d has %d samples, channel 0 has %d", ErrInput, i, len(ch), length)
		}
		for _, v := range ch {
			if v-v != 0 { // NaN or ±Inf: one comparison a sample
				return nil, fmt.Errorf("%w: channel %d holds a NaN or infinite sample", ErrInput, i)
			}
		}
	}
	if length < e.n {
		return nil, fmt.Errorf("%w: %d samples, at least a frame (%d) is needed", ErrInput, length, e.n)
	}
	if !e.accumulate(channels) {
		return nil, nil
	}
	e.correlate()
	return e.search(), nil
}

// silenceEnergy is the mean square per sample under which a frame is
// silent (about −100 dBFS).
const silenceEnergy = 1e-10

// accumulate averages the pairs' whitened cross-spectra over the frames
// that pass the gate; false when every frame is silent.
func (e *Estimator) accumulate(channels [][]float32) bool {
	hop := e.cfg.Hop
	nframes := (len(channels[0])-e.n)/hop + 1
	energy := make([]float64, nframes)
	mean := 0.0
	for f := range energy {
		s := 0.0
		for _, ch := range channels {
			for _, v := range ch[f*hop : f*hop+e.n] {
				s += float64(v) * float64(v)
			}
		}
		energy[f] = s / float64(e.n*len(channels))
		mean += energy[f]
	}
	mean /= float64(nframes)
	if mean < silenceEnergy {
		return false
	}
	gate := math.Max(mean*math.Pow(10, -e.cfg.GateDB/10), silenceEnergy)
	for p := range e.cross {
		clear(e.cross[p])
	}
	used := 0
	for f := 0; f < nframes; f++ {
		if energy[f] < gate {
			continue
		}
		used++
		for i, ch := range channels {
			for t := range e.frame {
				e.frame[t] = float64(ch[f*hop+t]) * e.window[t]
			}
			e.fft.Coefficients(e.spec[i], e.frame)
			s := e.spec[i]
			for k := e.kmin; k <= e.kmax; k++ {
				re, im := real(s[k]), imag(s[k])
				if a := re*re + im*im; a < 1e-40 {
					s[k] = 0
				} else {
					inv := 1 / math.Sqrt(a)
					s[k] = complex(re*inv, im*inv)
				}
			}
		}
		for p, pr := range e.pairs {
			x, y, acc := e.spec[pr[0]][e.kmin:e.kmax+1], e.spec[pr[1]][e.kmin:e.kmax+1], e.cross[p]
			for k := range acc {
				acc[k] += x[k] * cmplx.Conj(y[k])
			}
		}
	}
	norm := complex(1/float64(used*(e.kmax-e.kmin+1)), 0)
	for p := range e.cross {
		for k := range e.cross[p] {
			e.cross[p][k] *= norm
		}
	}
	return true
}

// correlate turns each pair's cross-spectrum into its GCC-PHAT on the lag
// grid: r(t) = Re Σ_k G[k]·e^{j2πkt/N}.
func (e *Estimator) correlate() {
	for p, g := range e.cross {
		out := e.gcc[p]
		for l, row := range e.lagTable {
			s := 0.0
			for k, v := range g {
				w := row[k]
				s += real(v)*real(w) - imag(v)*imag(w)
			}
			out[l] = s
		}
	}
}

// search evaluates the coarse map, refines its local maxima and keeps the
// peaks.
func (e *Estimator) search() *Result {
	sum := 0.0
	for i, l := range e.coarseLag {
		e.cmap[i] = e.power(l)
		sum += e.cmap[i]
	}
	mean := sum / float64(len(e.cmap))
	if mean <= 0 {
		return nil
	}
	cands := e.localMaxima()
	sort.Slice(cands, func(a, b int) bool { return e.cmap[cands[a]] > e.cmap[cands[b]] })
	limit := 4 * e.cfg.MaxSources
	var peaks []direction
	var values []float64
	for n, ci := range cands {
		if n >= limit || len(peaks) == e.cfg.MaxSources {
			break
		}
		d, v := e.refine(e.coarse[ci])
		if v/mean < e.cfg.MinRatio {
			if len(peaks) == 0 {
				return nil
			}
			break
		}
		if len(peaks) > 0 && v/mean-1 < e.cfg.MinRelative*(values[0]/mean-1) {
			break
		}
		if e.geom == linear {
			d = e.front(d)
		}
		if suppressed(d, peaks, e.cfg.SuppressDeg) {
			continue
		}
		peaks = append(peaks, d)
		values = append(values, v)
	}
	if len(peaks) == 0 {
		return nil
	}
	r := &Result{Ambiguous: e.geom == linear}
	for i, d := range peaks {
		pk := Peak{AzimuthDeg: d.az, Confidence: values[i] / mean}
		if e.geom == spatial {
			el := d.el
			pk.ElevationDeg = &el
		}
		r.Peaks = append(r.Peaks, pk)
	}
	r.AzimuthDeg, r.Confidence = r.Peaks[0].AzimuthDeg, r.Peaks[0].Confidence
	if r.Peaks[0].ElevationDeg != nil {
		el := *r.Peaks[0].ElevationDeg
		r.ElevationDeg = &el
	}
	return r
}

func suppressed(d direction, peaks []direction, deg float64) bool {
	c := math.Cos(deg * math.Pi / 180)
	for _, p := range peaks {
		if dot(d.u, p.u) > c {
			return true
		}
	}
	return false
}

// localMaxima lists the coarse points no lower than their neighbours
// (strictly higher than the previous one on a circle, so that a plateau
// yields one point).
func (e *Estimator) localMaxima() []int {
	var out []int
	n := len(e.cmap)
	if e.geom != spatial {
		for i := range e.cmap {
			prev, next := e.cmap[(i+n-1)%n], e.cmap[(i+1)%n]
			if e.cmap[i] > prev && e.cmap[i] >= next {
				out = append(out, i)
			}
		}
		return out
	}
	for i, nb := range e.neighbors {
		ok := true
		for _, j := range nb {
			if e.cmap[j] > e.cmap[i] || (e.cmap[j] == e.cmap[i] && j < i) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// refine searches FineStepDeg steps within ±CoarseStepDeg of d.
func (e *Estimator) refine(d direction) (direction, float64) {
	step, span := e.cfg.FineStepDeg, e.cfg.CoarseStepDeg
	n := int(math.Round(span / step))
	best, bestV := d, math.Inf(-1)
	var buf []float64
	try := func(az, el float64) {
		u := unit(az, el)
		buf = e.lags(u, buf)
		if v := e.power(buf); v > bestV {
			best, bestV = direction{az: normAz(az), el: el, u: u}, v
		}
	}
	if e.geom != spatial {
		for i := -n; i <= n; i++ {
			try(d.az+float64(i)*step, 0)
		}
		return best, bestV
	}
	for j := -n; j <= n; j++ {
		el := d.el + float64(j)*step
		if el < -90 || el > 90 {
			continue
		}
		// widen the azimuth span as the rings shrink, up to a half turn
		c := math.Max(math.Cos(el*math.Pi/180), span/180)
		for i := -n; i <= n; i++ {
			try(d.az+float64(i)*step/c, el)
		}
	}
	return best, bestV
}

// front mirrors a linear array's direction across its axis when the
// mirror image lies nearer the +x axis.
func (e *Estimator) front(d direction) direction {
	a := e.axis
	a[2] = 0
	if norm(a) < 1e-9 {
		return d
	}
	a = scale(a, 1/norm(a))
	u := d.u
	k := 2 * dot(u, a)
	m := [3]float64{k*a[0] - u[0], k*a[1] - u[1], u[2]}
	if m[0] > u[0]+1e-9 {
		az := normAz(-math.Atan2(m[1], m[0]) * 180 / math.Pi)
		return direction{az: az, el: d.el, u: m}
	}
	return d
}

// normAz maps degrees into (−180, 180].
func normAz(a float64) float64 {
	a = math.Mod(a, 360)
	if a <= -180 {
		a += 360
	} else if a > 180 {
		a -= 360
	}
	return a
}

func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func dot(a, b [3]float64) float64    { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64      { return math.Sqrt(dot(a, a)) }
func dist(a, b [3]float64) float64   { return norm(sub(a, b)) }
func scale(a [3]float64, k float64) [3]float64 {
	return [3]float64{a[0] * k, a[1] * k, a[2] * k}
}
func cross3(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
