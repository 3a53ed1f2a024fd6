// Package starss evaluates direction of arrival (doa/) on the STARSS23
// development set's format (DCASE's audio-visual sound event localisation
// and detection task): the 4-channel MIC recordings (WAV, 24 kHz) and
// their metadata CSVs (frame,class,source,azimuth,elevation[,distance];
// 100 ms frames; azimuth counter-clockwise, positive left, which is
// flipped into garssld's bearing convention, positive right).
//
// The evaluation is class-agnostic and per window: each clip is cut into
// windows of Options.WindowSeconds (3 s, side by side, a last partial
// window dropped). A window's references are its labelled sources: the
// rows of its 100 ms frames grouped by (class, source), each group's
// direction the mean of its frames' unit vectors (a moving source gives
// its average direction). Its predictions are the peaks doa reports
// (none when the map is flat). Predictions are matched to references one
// to one by optimal assignment (Hungarian method, internal/assign) on the
// great-circle angle; min(predictions, references) pairs are made.
//
// Two numbers are reported, named for what they are (not DCASE's
// location-aware F-score, which needs classes):
//   - mean angular error: the mean great-circle angle of the matched pairs;
//   - recall within 20°: matched pairs within 20° over all references.
//
// The MIC capsules sit on a rigid sphere (the Eigenmike em32's baffle);
// doa models them as free-field points, which is an approximation the real
// set's numbers include.
package starss

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/garssl/garssld/doa"
	"github.com/garssl/garssld/internal/assign"
)

// WithinDeg is the recall's angular threshold.
const WithinDeg = 20.0

// MicArray is STARSS23's MIC format in REP 103 axes: capsules at
// (azimuth, elevation) (45°, 35°), (−45°, −35°), (135°, −35°) and (−135°,
// 35°) on a sphere of radius 4.2 cm, azimuths counter-clockwise as the
// dataset gives them (so y = r·cos(el)·sin(az), positive left).
func MicArray() doa.Array {
	var p [][3]float64
	for _, ae := range [][2]float64{{45, 35}, {-45, -35}, {135, -35}, {-135, 35}} {
		az, el := ae[0]*math.Pi/180, ae[1]*math.Pi/180
		p = append(p, [3]float64{0.042 * math.Cos(el) * math.Cos(az), 0.042 * math.Cos(el) * math.Sin(az), 0.042 * math.Sin(el)})
	}
	return doa.Array{Positions: p}
}

// Options tunes an evaluation. Zero values mean the defaults.
type Options struct {
	// MaxSources is the peaks asked of doa per window, default 3 (STARSS23
	// has up to 3 overlapping events fairly often).
	MaxSources int
	// WindowSeconds is the window, default 3 (garssld's).
	WindowSeconds float64
	// DoA is doa's configuration; its MaxSources is set from MaxSources.
	DoA doa.Config
}

func (o Options) resolved() Options {
	if o.MaxSources <= 0 {
		o.MaxSources = 3
	}
	if o.WindowSeconds <= 0 {
		o.WindowSeconds = 3
	}
	o.DoA.MaxSources = o.MaxSources
	return o
}

// Report is an evaluation's outcome. The error and recall are null when
// nothing was matched or nothing was labelled.
type Report struct {
	Clips              int `json:"clips"`
	Windows            int `json:"windows"`
	WindowsWithSources int `json:"windows_with_sources"`
	References         int `json:"references"`
	// Predictions counts the peaks in windows with sources; Matches the
	// pairs the assignment made.
	Predictions int `json:"predictions"`
	Matches     int `json:"matches"`
	// MeanAngularErrorDeg is the mean great-circle error of the matches.
	MeanAngularErrorDeg *float64 `json:"mean_angular_error_deg"`
	// RecallWithin20Deg is the share of references matched within 20°.
	RecallWithin20Deg *float64 `json:"recall_within_20deg"`
	// WindowsWithoutSourcesWithDirection counts the windows with no
	// labelled source where doa still reported a direction.
	WindowsWithoutSources              int `json:"windows_without_sources"`
	WindowsWithoutSourcesWithDirection int `json:"windows_without_sources_with_a_direction"`

	sumErr    float64
	within    int
	estimator map[int]*doa.Estimator
}

// Direction is a bearing (positive right) and an elevation, in degrees.
type Direction struct{ BearingDeg, ElevationDeg float64 }

func (d Direction) unit() [3]float64 {
	az, el := d.BearingDeg*math.Pi/180, d.ElevationDeg*math.Pi/180
	return [3]float64{math.Cos(el) * math.Cos(az), -math.Cos(el) * math.Sin(az), math.Sin(el)}
}

// Angle is the great-circle angle between two directions, in degrees.
func Angle(a, b Direction) float64 {
	u, v := a.unit(), b.unit()
	c := u[0]*v[0] + u[1]*v[1] + u[2]*v[2]
	return math.Acos(math.Max(-1, math.Min(1, c))) * 180 / math.Pi
}

// References groups a window's rows by (class, source) into directions,
// in the order of the groups' first rows.
func References(rows []Row) []Direction {
	type key struct{ class, source int }
	sums := map[key][3]float64{}
	var order []key
	for _, r := range rows {
		k := key{r.Class, r.Source}
		s, seen := sums[k]
		if !seen {
			order = append(order, k)
		}
		u := Direction{r.Bearing(), r.ElevationDeg}.unit()
		sums[k] = [3]float64{s[0] + u[0], s[1] + u[1], s[2] + u[2]}
	}
	out := make([]Direction, 0, len(order))
	for _, k := range order {
		s := sums[k]
		n := math.Sqrt(s[0]*s[0] + s[1]*s[1] + s[2]*s[2])
		if n < 1e-9 { // opposite directions cancel: keep the first
			for _, r := range rows {
				if r.Class == k.class && r.Source == k.source {
					out = append(out, Direction{r.Bearing(), r.ElevationDeg})
					break
				}
			}
			continue
		}
		el := math.Asin(math.Max(-1, math.Min(1, s[2]/n))) * 180 / math.Pi
		out = append(out, Direction{-math.Atan2(s[1], s[0]) * 180 / math.Pi, el})
	}
	return out
}

// Match pairs predictions with references at the least total angle and
// returns the matched angles.
func Match(preds, refs []Direction) []float64 {
	if len(preds) == 0 || len(refs) == 0 {
		return nil
	}
	cost := make([][]float64, len(preds))
	for i, p := range preds {
		cost[i] = make([]float64, len(refs))
		for j, r := range refs {
			cost[i][j] = Angle(p, r)
		}
	}
	var out []float64
	for i, j := range assign.Min(cost) {
		if j >= 0 {
			out = append(out, cost[i][j])
		}
	}
	return out
}

// AddClip evaluates one clip: its channels (MIC order) at rate and its
// metadata rows.
func (r *Report) AddClip(rate int, channels [][]float32, rows []Row, opt Options) error {
	opt = opt.resolved()
	if r.estimator == nil {
		r.estimator = map[int]*doa.Estimator{}
	}
	e := r.estimator[rate]
	if e == nil {
		var err error
		if e, err = doa.New(MicArray(), rate, opt.DoA); err != nil {
			return err
		}
		r.estimator[rate] = e
	}
	if len(channels) != 4 {
		return fmt.Errorf("%d channels, the MIC format has 4", len(channels))
	}
	win := int(math.Round(opt.WindowSeconds * float64(rate)))
	framesPerWin := opt.WindowSeconds / FrameSeconds
	byWindow := map[int][]Row{}
	for _, row := range rows {
		w := int(math.Floor((float64(row.Frame) + 0.5) / framesPerWin))
		byWindow[w] = append(byWindow[w], row)
	}
	r.Clips++
	for w := 0; (w+1)*win <= len(channels[0]); w++ {
		r.Windows++
		window := make([][]float32, len(channels))
		for c := range channels {
			window[c] = channels[c][w*win : (w+1)*win]
		}
		res, err := e.Estimate(window)
		if err != nil {
			return fmt.Errorf("window %d: %w", w, err)
		}
		var preds []Direction
		if res != nil {
			for _, p := range res.Peaks {
				d := Direction{BearingDeg: p.AzimuthDeg}
				if p.ElevationDeg != nil {
					d.ElevationDeg = *p.ElevationDeg
				}
				preds = append(preds, d)
			}
		}
		refs := References(byWindow[w])
		if len(refs) == 0 {
			r.WindowsWithoutSources++
			if len(preds) > 0 {
				r.WindowsWithoutSourcesWithDirection++
			}
			continue
		}
		r.WindowsWithSources++
		r.References += len(refs)
		r.Predictions += len(preds)
		for _, a := range Match(preds, refs) {
			r.Matches++
			r.sumErr += a
			if a <= WithinDeg {
				r.within++
			}
		}
	}
	r.finish()
	return nil
}

func (r *Report) finish() {
	r.MeanAngularErrorDeg, r.RecallWithin20Deg = nil, nil
	if r.Matches > 0 {
		m := r.sumErr / float64(r.Matches)
		r.MeanAngularErrorDeg = &m
	}
	if r.References > 0 {
		rc := float64(r.within) / float64(r.References)
		r.RecallWithin20Deg = &rc
	}
}

// ErrNoClips is returned when the metadata directory holds no CSV.
var ErrNoClips = errors.New("no metadata CSV found")

// Evaluate runs every clip of a STARSS23-style tree: each CSV under
// metaDir (any depth, e.g. metadata_dev/dev-test-sony/x.csv) with the WAV
// at the same relative path under micDir (mic_dev/dev-test-sony/x.wav).
// progress, when not nil, is called after each clip. A cancelled ctx stops
// the run between clips with ctx's error.
func Evaluate(ctx context.Context, micDir, metaDir string, opt Options, progress func(clip string, done, total int)) (*Report, error) {
	var csvs []string
	err := filepath.WalkDir(metaDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".csv") {
			csvs = append(csvs, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(csvs) == 0 {
		return nil, fmt.Errorf("%s: %w", metaDir, ErrNoClips)
	}
	sort.Strings(csvs)
	rep := &Report{}
	for i, c := range csvs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(metaDir, c)
		if err != nil {
			return nil, err
		}
		wav := filepath.Join(micDir, strings.TrimSuffix(rel, filepath.Ext(rel))+".wav")
		if err := rep.addFiles(wav, c, opt); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(rel, i+1, len(csvs))
		}
	}
	return rep, nil
}

func (r *Report) addFiles(wavPath, csvPath string, opt Options) error {
	mf, err := os.Open(csvPath)
	if err != nil {
		return err
	}
	rows, err := ReadMetadata(mf, csvPath)
	mf.Close()
	if err != nil {
		return err
	}
	wf, err := os.Open(wavPath)
	if err != nil {
		return fmt.Errorf("the recording of %s: %w", csvPath, err)
	}
	rate, ch, err := ReadWAV(wf)
	wf.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", wavPath, err)
	}
	if err := r.AddClip(rate, ch, rows, opt); err != nil {
		return fmt.Errorf("%s: %w", wavPath, err)
	}
	return nil
}
