package report

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/garssl/garssld/eval/dataset"
)

// WriteCurvePNG draws the success curve, the fraction of scored units with
// cIoU ≥ t against t, whose area is the AUC, to a PNG file at path.
func WriteCurvePNG(path string, r Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, protocol %s: success curve", dataset.Kind(r.Dataset).Title(), r.Protocol)
	p.X.Label.Text = "cIoU threshold t"
	p.Y.Label.Text = "fraction with cIoU ≥ t"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	for _, c := range []struct {
		points []CurvePoint
		name   string
		colour color.Color
		dashed bool
	}{
		{r.SuccessCurve, fmt.Sprintf("all samples (AUC %.1f%%)", 100*r.AUC), color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, false},
		{r.SuccessCurveSuccessfulOnly, "successful only" + aucLabel(r.AUCSuccessfulOnly), color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, true},
	} {
		if len(c.points) == 0 {
			continue
		}
		xy := make(plotter.XYs, len(c.points))
		for i, pt := range c.points {
			xy[i].X, xy[i].Y = pt.T, pt.Fraction
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("success curve: %w", err)
		}
		line.Color, points.Color = c.colour, c.colour
		if c.dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(c.name, line, points)
	}
	p.Legend.Top = true
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func aucLabel(auc *float64) string {
	if auc == nil {
		return ""
	}
	return fmt.Sprintf(" (AUC %.1f%%)", 100**auc)
}
