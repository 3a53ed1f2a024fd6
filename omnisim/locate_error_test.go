package omnisim

import (
	"image"
	"image/color"
	"image/draw"
	"testing"
)

func TestLocateErrorMissesTheTruthOnPurpose(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 224, 224))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(64, 80, 160, 176), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(170, 10, 210, 50), image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src)
	red := box{64, 80, 159, 175}
	tests := []struct {
		name, locateError string
		want              box
	}{
		{"none", ``, red},
		{"offset", `,"locate_error":{"offset":[30,-20]}`, box{94, 60, 189, 155}},
		// Centre 111.5, 127.5; half-sizes 47.5 → 23.75.
		{"scale", `,"locate_error":{"scale":0.5}`, box{88, 104, 135, 151}},
		{"offset past the edge is clipped", `,"locate_error":{"offset":[100,0]}`, box{164, 80, 223, 175}},
		{"the wrong object", `,"locate_error":{"target_rgb":[0,0,255]}`, box{170, 10, 209, 49}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := parseTruth([]byte(`{"target_rgb":[255,0,0]` + tt.locateError + `}`))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tr.locateBox(img, 0, nil)
			if !ok || got != tt.want {
				t.Errorf("locate box %v (%v), want %v", got, ok, tt.want)
			}
			// Refinement and analysis still aim at the truth.
			if truth, ok := tr.colourBox(img, 0); !ok || truth != red {
				t.Errorf("truth box %v, want %v", truth, red)
			}
		})
	}
	for _, bad := range []string{`{"scale":0}`, `{"scale":-1}`, `{"target_rgb":[0,0,256]}`, `{"shift":1}`} {
		if _, err := parseTruth([]byte(`{"target_rgb":[255,0,0],"locate_error":` + bad + `}`)); err == nil {
			t.Errorf("locate_error %s accepted", bad)
		}
	}
}

// A direction hint decides between the wrong object and the target only by
// where they are: the wrong object stays when it lies in a hinted third, or
// when the target does not.
func TestHintedLocateAnswersTheObjectInTheHintedRegion(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 224, 224))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(64, 80, 160, 176), image.NewUniform(color.RGBA{255, 0, 0, 255}), image.Point{}, draw.Src) // middle third
	draw.Draw(img, image.Rect(170, 10, 210, 50), image.NewUniform(color.RGBA{0, 0, 255, 255}), image.Point{}, draw.Src) // right third
	red, blue := box{64, 80, 159, 175}, box{170, 10, 209, 49}
	tests := []struct {
		name, prompt, locateError string
		want                      box
	}{
		{"no hint", "Locate the sound.", `{"target_rgb":[0,0,255]}`, blue},
		{"hint at the target", "Direction hint: a microphone array hears that the sound comes from the middle third of the picture.", `{"target_rgb":[0,0,255]}`, red},
		{"hint at the wrong object", "the sound comes from the right third of the picture", `{"target_rgb":[0,0,255]}`, blue},
		{"hint at neither", "the sound comes from the left third of the picture", `{"target_rgb":[0,0,255]}`, blue},
		{"two thirds", "the sounds come from the left third and the middle third of the picture", `{"target_rgb":[0,0,255]}`, red},
		{"hint keeps the offset", "the sound comes from the middle third of the picture", `{"target_rgb":[0,0,255],"offset":[4,0]}`, box{68, 80, 163, 175}},
		{"no wrong object", "the sound comes from the right third of the picture", `{"offset":[4,0]}`, box{68, 80, 163, 175}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := parseTruth([]byte(`{"target_rgb":[255,0,0],"locate_error":` + tt.locateError + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := tr.locateBox(img, 0, hintThirds(tt.prompt)); !ok || got != tt.want {
				t.Errorf("locate box %v (%v), want %v", got, ok, tt.want)
			}
		})
	}
}
