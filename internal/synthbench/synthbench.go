// Package synthbench makes small synthetic benchmarks for the evaluation's
// tests and benchmarks with the ffmpeg CLI: frames of a grey scene with a
// coloured rectangle at a known place (red; a red and a blue one in the two
// halves of a duet composite), a tone as the sound, optional mp4 clips of
// the same scene, the annotations in the benchmark's public format, and an
// omnisim truth sidecar that finds the rectangles by colour.
package synthbench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garssl/garssld/internal/testmedia"
)

// Spec describes a benchmark to make.
type Spec struct {
	// Kind is the dataset: vggss, music-solo, vggss-duet or music-duet.
	Kind string
	// N is the number of samples.
	N int
	// Width and Height are the frame size; duets are composites of two
	// Width/2 × Height halves. Defaults: 320×240, duets 448×224.
	Width, Height int
	// Videos is how many of the first samples also get videos/<id>.mp4.
	Videos int
}

// Rect is an inclusive pixel rectangle of a frame.
type Rect struct{ X1, Y1, X2, Y2 int }

// Bench is a benchmark on disk.
type Bench struct {
	Spec
	Dir, Frames, Audio, Videos, Annotations, Truth string
	IDs                                            []string
	// Boxes are the drawn rectangles of each sample, by source.
	Boxes map[string][]Rect
}

func (s Spec) duet() bool  { return s.Kind == "vggss-duet" || s.Kind == "music-duet" }
func (s Spec) music() bool { return s.Kind == "music-solo" || s.Kind == "music-duet" }

// id is sample i's annotation id. MUSIC ids end in a 10-character frame
// suffix that the audio id drops (metrics.md); VGG-SS ids are
// "<ytid>_<6-digit start>".
func (s Spec) id(i int) string {
	switch s.Kind {
	case "music-solo":
		return fmt.Sprintf("solo%04d_%05d.jpg", i, 12)
	case "music-duet":
		return fmt.Sprintf("duet%04d_%05d.jpg", i, 7)
	case "vggss-duet":
		return fmt.Sprintf("vduet%04d", i)
	}
	return fmt.Sprintf("syn%07d_%06d", i, 10*i)
}

func (s Spec) audioID(id string) string {
	if s.music() {
		return id[:len(id)-10]
	}
	return id
}

// shape is one size class of rectangles and where they may go.
type shape struct {
	w, h         int
	x0, y0       int // top-left of the area the rectangle moves in
	spanX, spanY int // the area's extent for the top-left corner
}

// place is where sample t of a class puts its rectangle: even coordinates
// (4:2:0 chroma), spread by two co-prime steps. ffmpeg evaluates the same
// expression (placeExpr).
func (sh shape) place(t int) (int, int) {
	return sh.x0 + 2*((t*37%sh.spanX)/2), sh.y0 + 2*((t*23%sh.spanY)/2)
}

func (sh shape) placeExpr() (string, string) {
	return fmt.Sprintf("%d+2*floor(mod(round(t)*37\\,%d)/2)", sh.x0, sh.spanX),
		fmt.Sprintf("%d+2*floor(mod(round(t)*23\\,%d)/2)", sh.y0, sh.spanY)
}

func even(v float64) int { return 2 * int(v/2) }

// shapes are the size classes of source k in a frame of w×h (duets: the
// half that source k lives in).
func (s Spec) shapes(k int) []shape {
	w, h, x0 := s.Width, s.Height, 0
	if s.duet() {
		w = s.Width / 2
		x0 = k * w
	}
	var out []shape
	for _, f := range [][2]float64{{0.40, 0.45}, {0.50, 0.40}, {0.35, 0.55}, {0.45, 0.50}} {
		sw, sh := even(f[0]*float64(w)), even(f[1]*float64(h))
		margin := 8
		out = append(out, shape{w: sw, h: sh, x0: x0 + margin, y0: margin,
			spanX: max(2, w-sw-2*margin), spanY: max(2, h-sh-2*margin)})
	}
	return out
}

var colours = []struct {
	name string
	rgb  [3]int
}{{"red", [3]int{255, 0, 0}}, {"blue", [3]int{0, 0, 255}}}

// Make writes the benchmark under dir.
func Make(t testing.TB, dir string, spec Spec) *Bench {
	t.Helper()
	if spec.Width == 0 {
		spec.Width, spec.Height = 320, 240
		if spec.duet() {
			spec.Width, spec.Height = 448, 224
		}
	}
	b := &Bench{Spec: spec, Dir: dir, Frames: filepath.Join(dir, "frames"), Audio: filepath.Join(dir, "audio"),
		Videos: filepath.Join(dir, "videos"), Annotations: filepath.Join(dir, "annotations.json"),
		Truth: filepath.Join(dir, "truth.json"), Boxes: map[string][]Rect{}}
	for _, d := range []string{b.Frames, b.Audio, b.Videos} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sources := 1
	if spec.duet() {
		sources = 2
	}
	for i := range spec.N {
		id := spec.id(i)
		b.IDs = append(b.IDs, id)
		for k := range sources {
			sh := spec.shapes(k)[i%4]
			x, y := sh.place(i / 4)
			b.Boxes[id] = append(b.Boxes[id], Rect{x, y, x + sh.w - 1, y + sh.h - 1})
		}
	}
	b.makeFrames(t)
	b.makeAudio(t)
	for i := range min(spec.Videos, spec.N) {
		b.makeVideo(t, i)
	}
	b.writeAnnotations(t)
	b.writeTruth(t)
	return b
}

// overlays builds the filter graph that draws each source's rectangle of
// size class c over the grey scene, placed by the frame's time.
func (b *Bench) overlays(c int, place func(sh shape) (string, string)) (inputs []string, graph string) {
	sources := 1
	if b.duet() {
		sources = 2
	}
	last := "[0]"
	var parts []string
	for k := range sources {
		sh := b.shapes(k)[c]
		inputs = append(inputs, "-f", "lavfi", "-i", fmt.Sprintf("color=c=%s:s=%dx%d:r=1", colours[k].name, sh.w, sh.h))
		x, y := place(sh)
		out := fmt.Sprintf("[v%d]", k)
		parts = append(parts, fmt.Sprintf("%s[%d]overlay=x='%s':y='%s':eval=frame:shortest=1%s", last, k+1, x, y, out))
		last = out
	}
	return inputs, strings.Join(parts, ";")
}

// makeFrames draws the frames of each size class in one ffmpeg run: frame
// t of class c is sample 4t+c.
func (b *Bench) makeFrames(t testing.TB) {
	tmp := t.TempDir()
	for c := range 4 {
		count := (b.N - c + 3) / 4
		if count <= 0 {
			continue
		}
		inputs, graph := b.overlays(c, shape.placeExpr)
		args := append([]string{"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x808080:s=%dx%d:r=1:d=%d", b.Width, b.Height, count)}, inputs...)
		pattern := filepath.Join(tmp, fmt.Sprintf("c%d_%%06d.jpg", c))
		args = append(args, "-filter_complex", graph, "-map", fmt.Sprintf("[v%d]", strings.Count(graph, "overlay")-1),
			"-frames:v", fmt.Sprint(count), "-q:v", "2", "-start_number", "0", pattern)
		testmedia.FFmpeg(t, args...)
		for j := range count {
			id := b.IDs[4*j+c]
			if err := os.Rename(fmt.Sprintf(pattern, j), filepath.Join(b.Frames, frameName(id))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func frameName(id string) string {
	if strings.HasSuffix(id, ".jpg") {
		return id
	}
	return id + ".jpg"
}

// makeAudio writes two tones (44.1 kHz stereo, 22.05 kHz mono, 5 s) and
// links every sample's sound to one of them.
func (b *Bench) makeAudio(t testing.TB) {
	tones := []string{
		testmedia.File(t, b.Dir, "tone-44k-stereo.wav", testmedia.Sine(0.5, 440, 44100, 2, 5)...),
		testmedia.File(t, b.Dir, "tone-22k-mono.wav", testmedia.Sine(0.4, 660, 22050, 1, 5)...),
	}
	for i, id := range b.IDs {
		dst := filepath.Join(b.Audio, b.audioID(id)+".wav")
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := os.Link(tones[i%2], dst); err != nil {
			data, rerr := os.ReadFile(tones[i%2])
			if rerr != nil || os.WriteFile(dst, data, 0o644) != nil {
				t.Fatalf("audio for %s: %v", id, err)
			}
		}
	}
}

// makeVideo writes a 4 s clip of sample i's scene with a tone.
func (b *Bench) makeVideo(t testing.TB, i int) {
	id := b.IDs[i]
	c := i % 4
	inputs, graph := b.overlays(c, func(sh shape) (string, string) {
		x, y := sh.place(i / 4)
		return fmt.Sprint(x), fmt.Sprint(y)
	})
	// A clip at 25 fps: the rectangle sources must run at the clip's rate.
	for j := range inputs {
		if strings.HasPrefix(inputs[j], "color=") {
			inputs[j] = strings.TrimSuffix(inputs[j], ":r=1") + ":r=25"
		}
	}
	args := append([]string{"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x808080:s=%dx%d:r=25:d=4", b.Width, b.Height)}, inputs...)
	args = append(args, testmedia.Sine(0.5, 440, 48000, 2, 4)...)
	audioInput := len(inputs)/4 + 1
	name := strings.TrimSuffix(id, ".jpg") + ".mp4"
	args = append(args, "-filter_complex", graph, "-map", fmt.Sprintf("[v%d]", strings.Count(graph, "overlay")-1),
		"-map", fmt.Sprintf("%d:a", audioInput), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-t", "4", filepath.Join(b.Videos, name))
	testmedia.FFmpeg(t, args...)
}

func (b *Bench) writeAnnotations(t testing.TB) {
	W, H := float64(b.Width), float64(b.Height)
	var entries []map[string]any
	for _, id := range b.IDs {
		boxes := b.Boxes[id]
		// Normalised pixel edges: the drawn columns are x1…x2.
		xyxy := func(r Rect) []float64 {
			return []float64{float64(r.X1) / W, float64(r.Y1) / H, float64(r.X2+1) / W, float64(r.Y2+1) / H}
		}
		xywh := func(r Rect) []float64 {
			return []float64{float64(r.X1) / W, float64(r.Y1) / H, float64(r.X2-r.X1+1) / W, float64(r.Y2-r.Y1+1) / H}
		}
		e := map[string]any{"file": id}
		switch b.Kind {
		case "vggss":
			e["class"], e["bbox"] = "beep", [][]float64{xyxy(boxes[0])}
		case "music-solo":
			e["class"], e["bbox"] = "beep", xywh(boxes[0])
		default:
			e["class_src1"], e["bbox_src1"] = "beep", xywh(boxes[0])
			e["class_src2"], e["bbox_src2"] = "boop", xywh(boxes[1])
		}
		entries = append(entries, e)
	}
	writeJSON(t, b.Annotations, entries)
}

func (b *Bench) writeTruth(t testing.TB) {
	target := func(k int) map[string]any {
		return map[string]any{"target_rgb": colours[k].rgb, "tolerance": 60, "audio_class": []string{"beep", "boop"}[k], "audio_confidence": 0.95}
	}
	if b.duet() {
		writeJSON(t, b.Truth, map[string]any{"min_pixels": 20, "sources": []any{target(0), target(1)}})
		return
	}
	truth := target(0)
	truth["min_pixels"] = 20
	writeJSON(t, b.Truth, truth)
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
