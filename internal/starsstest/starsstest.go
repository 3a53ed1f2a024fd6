// Package starsstest writes synthetic clips in the STARSS23 development
// set's layout and format, for the tests of the direction-of-arrival
// evaluation: mic_dev/<name>.wav (16-bit, 24 kHz, 4 channels, the MIC
// array) and metadata_dev/<name>.csv (frame,class,source,azimuth,
// elevation,distance).
package starsstest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/internal/arraysim"
)

// Rate is STARSS23's sample rate.
const Rate = 24000

// Event is a labelled source: white noise in 100 ms frames [From, To) at
// a direction written in STARSS23's convention (azimuth counter-clockwise,
// positive left; elevation positive up).
type Event struct {
	Class, Source, From, To int
	Az, El                  float64
}

// Clip renders the events 1.2 m from the MIC array in a 5 × 4 × 3 m room
// (RT60 0.3 s) with white sensor noise at snrDB, and returns the channels
// and the metadata CSV of the events.
func Clip(rng *rand.Rand, seconds, snrDB float64, events []Event) ([][]float32, string) {
	n := int(seconds * Rate)
	room := arraysim.Room{Size: [3]float64{5, 4, 3}, RT60: 0.3}
	centre := [3]float64{2.3, 1.9, 1.4}
	mics := arraysim.Place(centre, arraysim.Tetra42())
	var mix [][]float64
	for _, ev := range events {
		s := arraysim.Noise(rng, n)
		ramp := Rate / 100
		a, b := ev.From*Rate/10, ev.To*Rate/10
		for t := range s {
			g := 0.0
			if t >= a && t < b {
				g = math.Min(1, math.Min(float64(t-a), float64(b-t))/float64(ramp))
			}
			s[t] *= g
		}
		// STARSS23's azimuth is positive left; the simulator's bearing is
		// positive right.
		ch := room.Render(s, Rate, arraysim.At(centre, -ev.Az, ev.El, 1.2), mics)
		if mix == nil {
			mix = ch
		} else {
			arraysim.Mix(mix, ch, 0)
		}
	}
	arraysim.AddNoise(rng, mix, snrDB)
	var csv strings.Builder
	for f := 0; f < int(seconds*10); f++ {
		for _, ev := range events {
			if f >= ev.From && f < ev.To {
				fmt.Fprintf(&csv, "%d,%d,%d,%d,%d,150\n", f, ev.Class, ev.Source, int(math.Round(ev.Az)), int(math.Round(ev.El)))
			}
		}
	}
	return arraysim.Float32(mix, 0.5), csv.String()
}

// Write renders a clip and writes it under root as mic_dev/<name>.wav and
// metadata_dev/<name>.csv (name may hold a split directory, e.g.
// dev-test-sony/fold4_room23_mix001).
func Write(t testing.TB, root, name string, rng *rand.Rand, seconds, snrDB float64, events []Event) {
	t.Helper()
	ch, csv := Clip(rng, seconds, snrDB, events)
	var wav bytes.Buffer
	if err := arraysim.WriteWAV16(&wav, Rate, ch); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, body string }{
		{filepath.Join(root, "mic_dev", name+".wav"), wav.String()},
		{filepath.Join(root, "metadata_dev", name+".csv"), csv},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
