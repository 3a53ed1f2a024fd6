package doa_test

import (
	"math"
	"math/rand/v2"
	"sort"

	"github.com/garssl/garssld/internal/arraysim"
)

const rate = 16000

// room is the test room: a 5 × 4 × 3 m shoebox with RT60 0.3 s,
// the array off its centre and the sources 1.4 m away.
var (
	room      = arraysim.Room{Size: [3]float64{5, 4, 3}, RT60: 0.3}
	centre    = [3]float64{2.3, 1.9, 1.25}
	srcMetres = 1.4
)

// source is one sound at a direction, srcMetres away in the room unless
// metres is set.
type source struct {
	az, el float64
	signal []float64
	metres float64
}

// scene renders sources at the array (reverberant when reverb is set),
// adds white sensor noise at snrDB (none when snrDB is +Inf) and converts
// to float32 at half full scale.
func scene(rng *rand.Rand, pos [][3]float64, reverb bool, snrDB float64, sources ...source) [][]float32 {
	var mix [][]float64
	for _, s := range sources {
		var ch [][]float64
		if reverb {
			d := srcMetres
			if s.metres > 0 {
				d = s.metres
			}
			ch = room.Render(s.signal, rate, arraysim.At(centre, s.az, s.el, d), arraysim.Place(centre, pos))
		} else {
			ch = arraysim.FarField(s.signal, rate, pos, s.az, s.el)
		}
		if mix == nil {
			mix = ch
		} else {
			arraysim.Mix(mix, ch, 0)
		}
	}
	if !math.IsInf(snrDB, 1) {
		arraysim.AddNoise(rng, mix, snrDB)
	}
	return arraysim.Float32(mix, 0.5)
}

// azErr is the absolute difference of two bearings in degrees, in [0, 180].
func azErr(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	if d > 180 {
		d = 360 - d
	}
	return d
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
