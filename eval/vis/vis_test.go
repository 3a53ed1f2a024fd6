package vis

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

func TestDraw(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 224, 112))
	for i := range src.Pix {
		src.Pix[i] = 0x80
	}
	var in bytes.Buffer
	if err := jpeg.Encode(&in, src, nil); err != nil {
		t.Fatal(err)
	}
	out, err := Draw(in.Bytes(), []Box{
		{X1: 10, Y1: 10, X2: 49, Y2: 39, Colour: GroundTruth},
		{X1: 100, Y1: 20, X2: 300, Y2: 60, Colour: Predicted[0]}, // runs off the picture
	}, []string{"pred: dog 0.91", "gt: dog"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	band := 2 * 15
	if b := img.Bounds(); b.Dx() != 448 || b.Dy() != 224+band {
		t.Fatalf("size %v", b)
	}
	isNear := func(c color.Color, want color.RGBA) bool {
		r, g, b, _ := c.RGBA()
		d := func(a uint32, w uint8) bool { return int(a>>8)-int(w) < 48 && int(w)-int(a>>8) < 48 }
		return d(r, want.R) && d(g, want.G) && d(b, want.B)
	}
	// The GT box's left edge at x = 10·2, inside its rows; the inside stays grey.
	if !isNear(img.At(21, band+40), GroundTruth) {
		t.Errorf("GT outline missing: %v", img.At(21, band+40))
	}
	if isNear(img.At(50, band+40), GroundTruth) {
		t.Error("GT box is filled, want an outline")
	}
	if !isNear(img.At(250, band+41), Predicted[0]) {
		t.Errorf("prediction outline missing: %v", img.At(250, band+41))
	}
	if _, err := Draw([]byte("not a jpeg"), nil, nil); err == nil {
		t.Error("a broken picture should fail")
	}
}
