package trainer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeLossPlot renders the training and validation loss curves of a
// metrics.jsonl file as a PNG, replacing pngPath atomically.
func writeLossPlot(metricsPath, pngPath string) error {
	b, err := os.ReadFile(metricsPath)
	if err != nil {
		return err
	}
	var train, val plotter.XYs
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Step    float64  `json:"step"`
			Loss    *float64 `json:"loss"`
			ValLoss *float64 `json:"val_loss"`
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Loss != nil {
			train = append(train, plotter.XY{X: r.Step, Y: *r.Loss})
		}
		if r.ValLoss != nil {
			val = append(val, plotter.XY{X: r.Step, Y: *r.ValLoss})
		}
	}
	if len(train) == 0 {
		return fmt.Errorf("%s has no loss records", metricsPath)
	}
	p := plot.New()
	p.Title.Text = "curate train"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true // the curves fall towards the bottom right
	tl, err := plotter.NewLine(train)
	if err != nil {
		return err
	}
	tl.Color = plotter.DefaultLineStyle.Color
	p.Add(tl)
	p.Legend.Add("train", tl)
	if len(val) > 0 {
		vl, vp, err := plotter.NewLinePoints(val)
		if err != nil {
			return err
		}
		vl.Color = plotColor
		vp.Color = plotColor
		p.Add(vl, vp)
		p.Legend.Add("validation", vl, vp)
	}
	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(pngPath), ".loss-*.png")
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), pngPath)
}

var plotColor = color.RGBA{R: 200, G: 60, B: 40, A: 255}
