package synthbench

import (
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/garssl/garssld/eval/dataset"
)

// colourBox finds the pixels near rgb, as omnisim's truth mode does.
func colourBox(t *testing.T, path string, rgb [3]int) Rect {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	r := Rect{1 << 30, 1 << 30, -1, -1}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if abs(int(cr>>8)-rgb[0]) <= 60 && abs(int(cg>>8)-rgb[1]) <= 60 && abs(int(cb>>8)-rgb[2]) <= 60 {
				r = Rect{min(r.X1, x), min(r.Y1, y), max(r.X2, x), max(r.Y2, y)}
			}
		}
	}
	return r
}

func abs(v int) int { return max(v, -v) }

func TestMake(t *testing.T) {
	for _, kind := range []string{"vggss", "music-duet"} {
		t.Run(kind, func(t *testing.T) {
			b := Make(t, t.TempDir(), Spec{Kind: kind, N: 6, Videos: 1})
			k, _ := dataset.ParseKind(kind)
			ann, err := dataset.Load(k, b.Annotations)
			if err != nil || len(ann.Samples) != 6 {
				t.Fatalf("annotations: %v", err)
			}
			for _, id := range b.IDs {
				for src, want := range b.Boxes[id] {
					got := colourBox(t, filepath.Join(b.Frames, k.FrameNames(id)[0]), colours[src].rgb)
					if d := max(abs(got.X1-want.X1), abs(got.Y1-want.Y1), abs(got.X2-want.X2), abs(got.Y2-want.Y2)); d > 1 {
						t.Errorf("%s source %d drawn at %+v, recorded %+v", id, src, got, want)
					}
				}
				audio := false
				for _, n := range k.AudioNames(id) {
					if _, err := os.Stat(filepath.Join(b.Audio, n)); err == nil {
						audio = true
					}
				}
				if !audio {
					t.Errorf("%s has no audio", id)
				}
			}
			if _, err := os.Stat(filepath.Join(b.Videos, k.VideoNames(b.IDs[0])[0])); err != nil {
				t.Error(err)
			}
			cfg, _, _ := image.DecodeConfig(mustOpen(t, filepath.Join(b.Frames, k.FrameNames(b.IDs[0])[0])))
			if cfg.Width != b.Width || cfg.Height != b.Height {
				t.Errorf("frame is %dx%d", cfg.Width, cfg.Height)
			}
		})
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
