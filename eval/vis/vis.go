// Package vis draws an evaluated sample: the model's picture, enlarged,
// with the predicted and ground-truth boxes and a caption.
package vis

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Box is a rectangle in pixels of the source picture, both corners
// included, and its colour.
type Box struct {
	X1, Y1, X2, Y2 float64
	Colour         color.RGBA
}

// Colours used for ground truth and predictions.
var (
	GroundTruth = color.RGBA{R: 0x20, G: 0xd0, B: 0x40, A: 0xff}
	Predicted   = []color.RGBA{{R: 0xff, G: 0x30, B: 0x30, A: 0xff}, {R: 0xff, G: 0x40, B: 0xff, A: 0xff}, {R: 0xff, G: 0xa0, B: 0x00, A: 0xff}}
)

// Scale enlarges the picture so that boxes and captions are legible.
const Scale = 2

// Draw decodes picture (JPEG), enlarges it Scale times, outlines boxes and
// writes caption lines on a dark band at the top. It returns a JPEG.
func Draw(picture []byte, boxes []Box, caption []string) ([]byte, error) {
	src, err := jpeg.Decode(bytes.NewReader(picture))
	if err != nil {
		return nil, fmt.Errorf("decode picture: %w", err)
	}
	sb := src.Bounds()
	face := basicfont.Face7x13
	band := len(caption) * 15
	dst := image.NewRGBA(image.Rect(0, 0, sb.Dx()*Scale, sb.Dy()*Scale+band))
	draw.Draw(dst, image.Rect(0, 0, dst.Bounds().Dx(), band), &image.Uniform{color.RGBA{A: 0xff}}, image.Point{}, draw.Src)
	xdraw.ApproxBiLinear.Scale(dst, image.Rect(0, band, sb.Dx()*Scale, sb.Dy()*Scale+band), src, sb, draw.Src, nil)
	for _, b := range boxes {
		outline(dst, image.Rect(int(b.X1*Scale), int(b.Y1*Scale)+band, int((b.X2+1)*Scale), int((b.Y2+1)*Scale)+band), b.Colour)
	}
	d := font.Drawer{Dst: dst, Src: image.White, Face: face}
	for i, line := range caption {
		d.Dot = fixed.P(4, 12+15*i)
		d.DrawString(line)
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out.Bytes(), nil
}

// outline draws a 2-pixel frame just inside r, clipped to the image.
func outline(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(dst.Bounds())
	if r.Empty() {
		return
	}
	const t = 2
	u := &image.Uniform{c}
	for _, side := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+t)},
		{image.Pt(r.Min.X, r.Max.Y-t), r.Max},
		{r.Min, image.Pt(r.Min.X+t, r.Max.Y)},
		{image.Pt(r.Max.X-t, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, side.Intersect(r), u, image.Point{}, draw.Src)
	}
}
