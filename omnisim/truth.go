package omnisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"regexp"
	"slices"
	"strings"
)

// truthTarget is one sound source of the truth sidecar.
type truthTarget struct {
	TargetRGB       *[3]int      `json:"target_rgb"`
	Tolerance       *int         `json:"tolerance"`
	AudioClass      string       `json:"audio_class"`
	AudioConfidence *float64     `json:"audio_confidence"`
	LocateError     *locateError `json:"locate_error"`
}

// locateError makes the locate answer miss the truth on purpose, so that
// refinement has something to correct (package doc).
type locateError struct {
	// Offset moves the box by [dx, dy] model pixels.
	Offset *[2]int `json:"offset"`
	// Scale scales the box about its centre.
	Scale *float64 `json:"scale"`
	// TargetRGB answers the colour box of another object: the wrong one.
	TargetRGB *[3]int `json:"target_rgb"`
}

// truthFile is the sidecar: either the members of one target at the top
// level, or a list of targets under "sources" (package doc).
type truthFile struct {
	truthTarget
	MinPixels *int          `json:"min_pixels"`
	Sources   []truthTarget `json:"sources"`
}

// truth is the validated sidecar with defaults filled in.
type truth struct {
	minPixels int
	targets   []target
}

type target struct {
	rgb             [3]int
	tolerance       int
	audioClass      string
	audioConfidence float64
	locateError     *locateError
}

const (
	defaultTolerance       = 60
	defaultMinPixels       = 20
	defaultAudioConfidence = 0.95
)

func loadTruth(path string) (*truth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--truth: %w", err)
	}
	t, err := parseTruth(data)
	if err != nil {
		return nil, fmt.Errorf("--truth %s: %w", path, err)
	}
	return t, nil
}

func parseTruth(data []byte) (*truth, error) {
	var f truthFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a truth sidecar (want {\"target_rgb\":[r,g,b],\"tolerance\":60,"+
			"\"audio_class\":\"…\",\"min_pixels\":20} or {\"sources\":[…]}): %w", err)
	}
	top := f.truthTarget
	topSet := top.TargetRGB != nil || top.Tolerance != nil || top.AudioClass != "" || top.AudioConfidence != nil
	raw := f.Sources
	switch {
	case topSet && len(raw) > 0:
		return nil, errors.New("give either top-level target members or \"sources\", not both")
	case topSet:
		raw = []truthTarget{top}
	case len(raw) == 0:
		return nil, errors.New("no target: set \"target_rgb\" or a non-empty \"sources\" list")
	}
	t := &truth{minPixels: defaultMinPixels}
	if f.MinPixels != nil {
		if *f.MinPixels < 1 {
			return nil, fmt.Errorf("min_pixels must be at least 1, got %d", *f.MinPixels)
		}
		t.minPixels = *f.MinPixels
	}
	for i, r := range raw {
		tg, err := r.validate()
		if err != nil {
			return nil, fmt.Errorf("sources[%d]: %w", i, err)
		}
		t.targets = append(t.targets, tg)
	}
	return t, nil
}

func (r truthTarget) validate() (target, error) {
	tg := target{tolerance: defaultTolerance, audioClass: r.AudioClass, audioConfidence: defaultAudioConfidence}
	if r.TargetRGB == nil {
		return tg, errors.New("target_rgb [r,g,b] is required")
	}
	if !validRGB(*r.TargetRGB) {
		return tg, fmt.Errorf("target_rgb %v: each channel must be in 0..255", *r.TargetRGB)
	}
	tg.rgb = *r.TargetRGB
	if r.Tolerance != nil {
		if *r.Tolerance < 0 || *r.Tolerance > 255 {
			return tg, fmt.Errorf("tolerance must be in 0..255, got %d", *r.Tolerance)
		}
		tg.tolerance = *r.Tolerance
	}
	if r.AudioConfidence != nil {
		if c := *r.AudioConfidence; !(c >= 0 && c <= 1) {
			return tg, fmt.Errorf("audio_confidence must be in [0,1], got %v", c)
		}
		tg.audioConfidence = *r.AudioConfidence
	}
	if e := r.LocateError; e != nil {
		if e.Scale != nil && !(*e.Scale > 0 && *e.Scale <= 10) {
			return tg, fmt.Errorf("locate_error.scale must be above 0 and at most 10, got %v", *e.Scale)
		}
		if e.TargetRGB != nil && !validRGB(*e.TargetRGB) {
			return tg, fmt.Errorf("locate_error.target_rgb %v: each channel must be in 0..255", *e.TargetRGB)
		}
		tg.locateError = e
	}
	return tg, nil
}

func validRGB(rgb [3]int) bool {
	for _, c := range rgb {
		if c < 0 || c > 255 {
			return false
		}
	}
	return true
}

// target returns the target for a source index, if the sidecar has one.
func (t *truth) target(source int) (target, bool) {
	if t == nil || source < 0 || source >= len(t.targets) {
		return target{}, false
	}
	return t.targets[source], true
}

// colourBox is the bounding box of the pixels whose channels all lie within
// the tolerance of the target colour. This is colour matching, not vision.
func (t *truth) colourBox(img image.Image, source int) (box, bool) {
	tg, ok := t.target(source)
	if !ok || img == nil {
		return box{}, false
	}
	return t.colourBoxOf(img, tg.rgb, tg.tolerance)
}

// locateBox is what locate answers for a source: the colour box, missed by
// the target's locate_error when it has one. The error is applied in this
// order: the wrong object's colour box, then the scale about its centre,
// then the offset, then clipping to the image. hint lists the thirds of
// the picture (0 left, 1 middle, 2 right) a direction hint named: when
// the wrong object's centre lies in none of them and the target's does,
// the hint wins and the target's colour box is the object answered (its
// scale and offset still apply).
func (t *truth) locateBox(img image.Image, source int, hint []int) (box, bool) {
	tg, ok := t.target(source)
	if !ok || img == nil {
		return box{}, false
	}
	e := tg.locateError
	if e == nil {
		return t.colourBoxOf(img, tg.rgb, tg.tolerance)
	}
	rgb := tg.rgb
	if e.TargetRGB != nil {
		rgb = *e.TargetRGB
	}
	b, ok := t.colourBoxOf(img, rgb, tg.tolerance)
	if !ok {
		return box{}, false
	}
	if len(hint) > 0 && e.TargetRGB != nil && !inThirds(b, img.Bounds().Dx(), hint) {
		if own, ok := t.colourBoxOf(img, tg.rgb, tg.tolerance); ok && inThirds(own, img.Bounds().Dx(), hint) {
			b = own
		}
	}
	f := b.floats()
	if e.Scale != nil {
		cx, cy := b.centre()
		s := *e.Scale
		f = [4]float64{cx + (f[0]-cx)*s, cy + (f[1]-cy)*s, cx + (f[2]-cx)*s, cy + (f[3]-cy)*s}
	}
	if e.Offset != nil {
		dx, dy := float64(e.Offset[0]), float64(e.Offset[1])
		f = [4]float64{f[0] + dx, f[1] + dy, f[2] + dx, f[3] + dy}
	}
	bounds := img.Bounds()
	return clipBox(f, bounds.Dx(), bounds.Dy()), true
}

func (t *truth) colourBoxOf(img image.Image, rgb [3]int, tolerance int) (box, bool) {
	tg := target{rgb: rgb, tolerance: tolerance}
	bounds := img.Bounds()
	x1, y1, x2, y2 := bounds.Max.X, bounds.Max.Y, bounds.Min.X-1, bounds.Min.Y-1
	count := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if !near(int(r>>8), tg.rgb[0], tg.tolerance) || !near(int(g>>8), tg.rgb[1], tg.tolerance) ||
				!near(int(b>>8), tg.rgb[2], tg.tolerance) {
				continue
			}
			count++
			x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x), max(y2, y)
		}
	}
	if count < t.minPixels {
		return box{}, false
	}
	return box{x1 - bounds.Min.X, y1 - bounds.Min.Y, x2 - bounds.Min.X, y2 - bounds.Min.Y}, true
}

func near(v, want, tolerance int) bool {
	return v >= want-tolerance && v <= want+tolerance
}

// inThirds reports whether the centre of b lies in one of the thirds of a
// picture w pixels wide.
func inThirds(b box, w int, thirds []int) bool {
	cx, _ := b.centre()
	third := min(max(int(3*(cx+0.5)/float64(max(w, 1))), 0), 2)
	return slices.Contains(thirds, third)
}

var (
	hintLine  = regexp.MustCompile(`(?i)sounds? comes? from (.+?) of the (?:picture|image)`)
	hintThird = regexp.MustCompile(`(?i)\b(left|middle|right) third\b`)
)

// hintThirds reads the direction hint of a locate prompt ("the sound comes
// from the left third of the picture"; several thirds joined by "and"):
// 0 for left, 1 middle, 2 right; nil without a hint.
func hintThirds(text string) []int {
	m := hintLine.FindStringSubmatch(text)
	if m == nil {
		return nil
	}
	var out []int
	for _, t := range hintThird.FindAllStringSubmatch(m[1], -1) {
		i := map[string]int{"left": 0, "middle": 1, "right": 2}[strings.ToLower(t[1])]
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}
