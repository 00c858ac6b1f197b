package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlots draws the plots into dir and returns their file names.
func writePlots(dir string, r *results) ([]string, error) {
	type maker struct {
		file string
		make func(*results) (*plot.Plot, error)
	}
	var plots []maker
	if r.params.only != "kube" {
		plots = append(plots, maker{"coldstart.png", coldPlot}, maker{"warm_latency.png", warmPlot}, maker{"throughput.png", throughputPlot})
	}
	if r.kube.ran {
		plots = append(plots, maker{"kubernetes.png", kubePlot})
	}
	var files []string
	for _, p := range plots {
		pl, err := p.make(r)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", p.file, err)
		}
		if err := pl.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, p.file)); err != nil {
			return nil, fmt.Errorf("plot %s: %w", p.file, err)
		}
		files = append(files, p.file)
	}
	return files, nil
}

// cdf returns the empirical CDF of d, x in units of unit.
func cdf(d []time.Duration, unit time.Duration) plotter.XYs {
	s := slices.Clone(d)
	slices.Sort(s)
	xys := make(plotter.XYs, len(s))
	for i, v := range s {
		xys[i] = plotter.XY{X: float64(v) / float64(unit), Y: float64(i+1) / float64(len(s))}
	}
	return xys
}

type series struct {
	name string
	d    []time.Duration
}

// cdfPlot draws one CDF line per series on a log x axis, with dashed
// vertical marks at the targets.
func cdfPlot(title, xlabel string, unit time.Duration, ss []series, marks map[string]float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "fraction of calls ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	// Headroom above 1 keeps the legend off the lines.
	p.Y.Min, p.Y.Max = 0, 1.35
	p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25}, {Value: 0.5, Label: "0.5"}, {Value: 0.75}, {Value: 1, Label: "1"}}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range ss {
		if len(s.d) == 0 {
			continue
		}
		l, err := plotter.NewLine(cdf(s.d, unit))
		if err != nil {
			return nil, err
		}
		l.StepStyle = plotter.PostStep
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", s.name, len(s.d)), l)
	}
	// Room on the right for the last mark's label.
	for _, x := range marks {
		p.X.Max = max(p.X.Max, x*1.8)
	}
	names := make([]string, 0, len(marks))
	for k := range marks {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		x := marks[name]
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 1}})
		if err != nil {
			return nil, err
		}
		l.Color = color.Gray{Y: 120}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: 0.03}}, Labels: []string{" " + name}})
		if err != nil {
			return nil, err
		}
		lab.TextStyle[0].Color = color.Gray{Y: 90}
		p.Add(lab)
	}
	return p, nil
}

func coldPlot(r *results) (*plot.Plot, error) {
	return cdfPlot("Cold starts: time to first response", "latency (ms, log scale)", time.Millisecond,
		[]series{
			{"first call, warm pool, via router", r.cold},
			{"10-way burst of first calls", r.burst},
			{"fresh process, no pool", r.fresh},
		},
		map[string]float64{"10 ms": 10, "30 ms": 30, "300 ms": 300})
}

func warmPlot(r *results) (*plot.Plot, error) {
	return cdfPlot("Warm calls: sequential GETs on one keep-alive connection", "latency (µs, log scale)", time.Microsecond,
		[]series{{"direct to the Python instance", r.warmDirect}, {"bare Go reverse proxy", r.warmProxy}, {"via the Lantern router", r.warmRouter}}, nil)
}

func throughputPlot(r *results) (*plot.Plot, error) {
	td, tp, tr := merge(r.tputDirect...), merge(r.tputProxy...), merge(r.tputRouter...)
	bars := []struct {
		name string
		res  loadResult
	}{
		{fmt.Sprintf("direct, %d conns", r.params.tputConns), td},
		{fmt.Sprintf("bare proxy, %d conns", r.params.tputConns), tp},
		{fmt.Sprintf("router, %d conns", r.params.tputConns), tr},
		{fmt.Sprintf("router, %d conns,\n%d instances", r.params.hiConns, r.hiInstances), r.hi},
	}
	p := plot.New()
	p.Title.Text = "Throughput: successful calls per second"
	p.Y.Label.Text = "requests per second"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	var names []string
	var tops plotter.XYs
	var labels []string
	for i, b := range bars {
		if b.res.Elapsed == 0 {
			continue
		}
		bc, err := plotter.NewBarChart(plotter.Values{b.res.RPS()}, vg.Points(60))
		if err != nil {
			return nil, err
		}
		bc.XMin = float64(len(names))
		bc.Color = plotutil.Color(i)
		bc.LineStyle.Width = 0
		p.Add(bc)
		names = append(names, b.name)
		tops = append(tops, plotter.XY{X: bc.XMin, Y: b.res.RPS()})
		label := fmt.Sprintf("%.0f", b.res.RPS())
		if n := b.res.Errs.total(); n > 0 {
			label += fmt.Sprintf(", %d errors", n)
		}
		labels = append(labels, label)
	}
	p.NominalX(names...)
	for _, t := range tops {
		p.Y.Max = max(p.Y.Max, t.Y*1.12) // room for the labels
	}
	if len(tops) > 0 {
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: tops, Labels: labels})
		if err != nil {
			return nil, err
		}
		for i := range lab.TextStyle {
			lab.TextStyle[i].XAlign = draw.XCenter
			lab.TextStyle[i].YAlign = draw.YBottom
		}
		p.Add(lab)
	}
	return p, nil
}
