package gar

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/garssl/garssld/doa"
	"github.com/garssl/garssld/internal/assign"
	"github.com/garssl/garssld/media"
)

// DirectionConfig is a stream's microphone array as the GAR loop uses it
// (config.MicArray without the capture's channel map).
type DirectionConfig struct {
	// Stream names the stream for the observer.
	Stream string
	// Positions are the microphones in metres, in the array's frame (ROS
	// REP 103: x forward, y left, z up).
	Positions [][3]float64
	// YawOffsetDeg is the bearing of the array's x axis as the camera
	// sees it (positive right); PitchOffsetDeg its elevation (positive up).
	YawOffsetDeg, PitchOffsetDeg float64
	// ToleranceDeg is the disagreement between a box's bearing and a
	// confident direction beyond which the window is located again with
	// the direction as a hint (when Hint is set).
	ToleranceDeg float64
	Hint         bool
	// MaxSources bounds the peaks reported, default 1.
	MaxSources int
	// Observer counts the outcomes; nil counts nothing.
	Observer DirectionObserver
}

// DirectionObserver counts what direction finding did per window. Calls are
// synchronous from the GAR loop, so they must be quick and must not block.
type DirectionObserver interface {
	// DoAWindow counts one window's direction finding with its outcome,
	// one of the DoA* outcome constants.
	DoAWindow(stream, outcome string)
	// DoAHint counts one hinted locate with its result, one of the Hint*
	// constants.
	DoAHint(stream, result string)
}

// Outcomes of direction finding per window, for DirectionObserver: a
// bounded set, fit for a metric label.
const (
	DoAFlat       = "flat"        // no direction (silence or diffuse sound)
	DoAWeak       = "weak"        // a direction under doa.ConfidentRatio
	DoAConfident  = "confident"   // a confident direction within the picture, or no camera
	DoAOutsideFOV = "outside_fov" // a confident direction outside the picture
	DoAError      = "error"       // the array audio could not be used
)

// Results of a hinted locate, for DirectionObserver.
const (
	HintMoved  = "moved"  // the hinted locate answered another box
	HintKept   = "kept"   // it answered the same box
	HintFailed = "failed" // the request failed or its answer was unusable
)

// Direction finds the direction of arrival of a stream's windows and maps it
// into the camera's frame. Build one per stream with NewDirection; it is
// safe for concurrent use (each call borrows an estimator of its own).
type Direction struct {
	cfg   DirectionConfig
	array doa.Array
	// axisDeg is, for a linear array (a pair), the bearing of its axis in
	// the camera's frame: an ambiguous direction's mirror image lies
	// across it.
	axisDeg float64

	mu   sync.Mutex
	idle map[int][]*doa.Estimator // by sample rate
}

// maxIdleEstimators bounds the estimators kept per sample rate: one per
// window that may run at once on a stream is plenty.
const maxIdleEstimators = 4

// NewDirection validates cfg by building an estimator at 16 kHz.
func NewDirection(cfg DirectionConfig) (*Direction, error) {
	if cfg.MaxSources == 0 {
		cfg.MaxSources = 1
	}
	if !(cfg.ToleranceDeg >= 0 && cfg.ToleranceDeg <= 180) {
		return nil, fmt.Errorf("mic_array tolerance_deg %v: use 0 to 180", cfg.ToleranceDeg)
	}
	d := &Direction{cfg: cfg, array: doa.Array{Positions: cfg.Positions}, idle: map[int][]*doa.Estimator{}}
	e, err := d.newEstimator(16000)
	if err != nil {
		return nil, err
	}
	d.put(16000, e)
	if n := len(cfg.Positions); n >= 2 {
		a, b := cfg.Positions[0], cfg.Positions[n-1]
		// Bearings are positive to the right, towards −y.
		d.axisDeg = wrapDeg(math.Atan2(-(b[1]-a[1]), b[0]-a[0])*180/math.Pi + cfg.YawOffsetDeg)
	}
	return d, nil
}

func (d *Direction) newEstimator(rate int) (*doa.Estimator, error) {
	e, err := doa.New(d.array, rate, doa.Config{MaxSources: d.cfg.MaxSources})
	if err != nil {
		return nil, fmt.Errorf("mic_array: %w", err)
	}
	return e, nil
}

func (d *Direction) get(rate int) (*doa.Estimator, error) {
	d.mu.Lock()
	if list := d.idle[rate]; len(list) > 0 {
		e := list[len(list)-1]
		d.idle[rate] = list[:len(list)-1]
		d.mu.Unlock()
		return e, nil
	}
	d.mu.Unlock()
	return d.newEstimator(rate)
}

func (d *Direction) put(rate int, e *doa.Estimator) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.idle[rate]; !ok && len(d.idle) >= 2 {
		// The input's rate changed: the old rate's estimators go.
		clear(d.idle)
	}
	if len(d.idle[rate]) < maxIdleEstimators {
		d.idle[rate] = append(d.idle[rate], e)
	}
}

// Estimate returns the window's direction in the camera's frame: Flat when
// the map is flat, nil with an error when the audio cannot be used. With
// hfovDeg > 0 it also says whether the direction lies outside the picture.
func (d *Direction) Estimate(a *media.ArrayAudio, hfovDeg float64) (*DoAInfo, error) {
	info, err := d.estimate(a, hfovDeg)
	if obs := d.cfg.Observer; obs != nil {
		obs.DoAWindow(d.cfg.Stream, info.outcome(err))
	}
	return info, err
}

func (d *Direction) estimate(a *media.ArrayAudio, hfovDeg float64) (*DoAInfo, error) {
	if a == nil {
		return nil, errors.New("direction of arrival: the window has no array audio")
	}
	e, err := d.get(a.Rate)
	if err != nil {
		return nil, fmt.Errorf("direction of arrival at %d Hz: %w", a.Rate, err)
	}
	r, err := e.Estimate(a.Channels)
	d.put(a.Rate, e)
	if err != nil {
		return nil, fmt.Errorf("direction of arrival: %w", err)
	}
	if r == nil {
		return &DoAInfo{Flat: true}, nil
	}
	info := &DoAInfo{
		AzimuthDeg: wrapDeg(r.AzimuthDeg + d.cfg.YawOffsetDeg), ElevationDeg: d.elevation(r.ElevationDeg),
		Confidence: r.Confidence, Confident: r.Confidence >= doa.ConfidentRatio, Ambiguous: r.Ambiguous,
		Peaks: make([]DoAPeak, len(r.Peaks)), axisDeg: d.axisDeg,
	}
	for i, p := range r.Peaks {
		info.Peaks[i] = DoAPeak{AzimuthDeg: wrapDeg(p.AzimuthDeg + d.cfg.YawOffsetDeg), ElevationDeg: d.elevation(p.ElevationDeg), Confidence: p.Confidence}
	}
	if info.Confident && hfovDeg > 0 {
		info.OutsideFOV = !info.inFOV(info.AzimuthDeg, hfovDeg)
	}
	return info, nil
}

// elevation adds the pitch offset: an approximation that holds while the
// array is mounted close to level.
func (d *Direction) elevation(el *float64) *float64 {
	if el == nil {
		return nil
	}
	v := math.Max(-90, math.Min(90, *el+d.cfg.PitchOffsetDeg))
	return &v
}

// DoAInfo is audio.doa: the direction of arrival of the window's sound in
// the camera's frame (bearing_deg's convention). A Flat one is published as
// null: silence or diffuse sound is not a direction.
type DoAInfo struct {
	Flat bool `json:"-"`
	// AzimuthDeg is the strongest peak's bearing, in (−180, 180].
	AzimuthDeg float64 `json:"azimuth_deg"`
	// ElevationDeg, positive up, only when the array's geometry gives one.
	ElevationDeg *float64 `json:"elevation_deg,omitempty"`
	// Confidence is the strongest peak's peak-to-mean ratio of the SRP
	// map (doa package); Confident says it reaches doa.ConfidentRatio.
	Confidence float64 `json:"confidence"`
	Confident  bool    `json:"confident"`
	// Ambiguous: a linear array (a pair) cannot tell the front from the
	// back; the front solution is given and its mirror image across the
	// array's axis is as likely.
	Ambiguous bool `json:"ambiguous"`
	// OutsideFOV: the direction is confident and outside the camera's
	// horizontal field of view (for an ambiguous one, both solutions are).
	OutsideFOV bool `json:"outside_fov"`
	// Peaks are up to mic_array.max_sources directions, strongest first.
	Peaks []DoAPeak `json:"peaks"`

	axisDeg float64 // see Direction.axisDeg
}

// DoAPeak is one direction of the map.
type DoAPeak struct {
	AzimuthDeg   float64  `json:"azimuth_deg"`
	ElevationDeg *float64 `json:"elevation_deg,omitempty"`
	Confidence   float64  `json:"confidence"`
}

// MarshalJSON writes a Flat direction as null and nil peaks as [].
func (d DoAInfo) MarshalJSON() ([]byte, error) {
	if d.Flat {
		return []byte("null"), nil
	}
	type plain DoAInfo
	p := plain(d)
	if p.Peaks == nil {
		p.Peaks = []DoAPeak{}
	}
	return json.Marshal(p)
}

// outcome classifies the window for the observer.
func (d *DoAInfo) outcome(err error) string {
	switch {
	case err != nil || d == nil:
		return DoAError
	case d.Flat:
		return DoAFlat
	case !d.Confident:
		return DoAWeak
	case d.OutsideFOV:
		return DoAOutsideFOV
	}
	return DoAConfident
}

// solutions are the bearings a peak may stand for: its own and, when the
// direction is ambiguous, its mirror image across the array's axis.
func (d *DoAInfo) solutions(az float64) []float64 {
	if !d.Ambiguous {
		return []float64{az}
	}
	return []float64{az, wrapDeg(2*d.axisDeg - az)}
}

// inFOV reports whether a solution of the bearing az lies in the picture.
func (d *DoAInfo) inFOV(az, hfovDeg float64) bool {
	for _, s := range d.solutions(az) {
		if math.Abs(s) < hfovDeg/2 {
			return true
		}
	}
	return false
}

// gap is the angle between a box's bearing and the nearest solution of a
// peak, in [0, 180].
func (d *DoAInfo) gap(bearing, az float64) float64 {
	g := 180.0
	for _, s := range d.solutions(az) {
		g = math.Min(g, AngleDeg(bearing, s))
	}
	return g
}

// AngleDeg is the absolute angle between two bearings, in [0, 180].
func AngleDeg(a, b float64) float64 {
	return math.Abs(wrapDeg(a - b))
}

// wrapDeg maps an angle to (−180, 180].
func wrapDeg(a float64) float64 {
	a = math.Mod(a, 360)
	switch {
	case a > 180:
		a -= 360
	case a <= -180:
		a += 360
	}
	return a
}

// AssignPeaks matches boxes (by bearing) to peaks one to one, minimising the
// sum of the angles (an optimal assignment, internal/assign). It returns, for each box, the index of its peak; with
// more boxes than peaks, the boxes left over take their nearest peak. gap
// measures a box's bearing against a peak. No peaks give nil.
func AssignPeaks(bearings []float64, peaks int, gap func(bearing float64, peak int) float64) []int {
	out := matchPeaks(bearings, peaks, gap)
	for i, p := range out {
		if p >= 0 {
			continue
		}
		nearest := math.Inf(1)
		for q := range peaks {
			if g := gap(bearings[i], q); g < nearest {
				nearest, out[i] = g, q
			}
		}
	}
	return out
}

// matchPeaks is AssignPeaks's one-to-one part: boxes left over are -1.
func matchPeaks(bearings []float64, peaks int, gap func(bearing float64, peak int) float64) []int {
	if peaks == 0 {
		return nil
	}
	cost := make([][]float64, len(bearings))
	for i, b := range bearings {
		cost[i] = make([]float64, peaks)
		for p := range peaks {
			cost[i][p] = gap(b, p)
		}
	}
	return assign.Min(cost)
}

// Agreement returns each box's doa_agreement_deg: the angle between its
// bearing and its peak, boxes matched to peaks by AssignPeaks. It returns
// nil when there is no direction or no camera.
func (d *DoAInfo) Agreement(boxes []Box, modelW int, hfovDeg float64) []float64 {
	if d == nil || d.Flat || len(d.Peaks) == 0 || hfovDeg <= 0 {
		return nil
	}
	bearings := boxBearings(boxes, modelW, hfovDeg)
	gap := func(b float64, p int) float64 { return d.gap(b, d.Peaks[p].AzimuthDeg) }
	out := make([]float64, len(boxes))
	for i, p := range AssignPeaks(bearings, len(d.Peaks), gap) {
		out[i] = gap(bearings[i], p)
	}
	return out
}

func boxBearings(boxes []Box, modelW int, hfovDeg float64) []float64 {
	out := make([]float64, len(boxes))
	for i, b := range boxes {
		out[i] = BearingDeg(CentreXNorm(b, modelW), hfovDeg)
	}
	return out
}

// Hint decides whether the boxes generation answered call for a hinted
// locate, and returns the hint's region phrase ("the left third") or "".
// A hint needs a camera, a confident direction and hint on. The peaks that
// count are the first len(boxes) confident ones inside the picture; a
// peak whose solutions fall in two regions names none. The hint is given
// when a box disagrees with the peak matched to it one to one by more than
// the tolerance, and names the regions of those peaks.
func (d *DoAInfo) Hint(boxes []Box, modelW int, hfovDeg, toleranceDeg float64) string {
	if d == nil || d.Flat || !d.Confident || hfovDeg <= 0 || len(boxes) == 0 {
		return ""
	}
	type hintPeak struct {
		az     float64
		region string
	}
	var peaks []hintPeak
	for _, p := range d.Peaks {
		if len(peaks) == len(boxes) {
			break
		}
		if p.Confidence < doa.ConfidentRatio {
			continue
		}
		region := ""
		for _, s := range d.solutions(p.AzimuthDeg) {
			if math.Abs(s) >= hfovDeg/2 {
				continue
			}
			if r := RegionOf(s, hfovDeg); region == "" || region == r {
				region = r
			} else {
				region = "ambiguous"
			}
		}
		if region != "" && region != "ambiguous" {
			peaks = append(peaks, hintPeak{az: p.AzimuthDeg, region: region})
		}
	}
	if len(peaks) == 0 {
		return ""
	}
	bearings := boxBearings(boxes, modelW, hfovDeg)
	gap := func(b float64, p int) float64 { return d.gap(b, peaks[p].az) }
	disagree := false
	for i, p := range matchPeaks(bearings, len(peaks), gap) {
		// A box left over has no confident direction of its own to be
		// compared with.
		disagree = disagree || p >= 0 && gap(bearings[i], p) > toleranceDeg
	}
	if !disagree {
		return ""
	}
	var regions []string
	for _, p := range peaks {
		if !slices.Contains(regions, p.region) {
			regions = append(regions, p.region)
		}
	}
	return strings.Join(regions, " and ")
}

// RegionOf names the third of the picture a bearing inside the field of
// view falls in, through the same pinhole model as bearing_deg: "the left
// third", "the middle third" or "the right third".
func RegionOf(bearingDeg, hfovDeg float64) string {
	x := (math.Tan(bearingDeg*math.Pi/180)/math.Tan(hfovDeg/2*math.Pi/180) + 1) / 2
	switch {
	case x < 1.0/3:
		return "the left third"
	case x < 2.0/3:
		return "the middle third"
	}
	return "the right third"
}
