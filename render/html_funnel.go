package render

import (
	"strconv"

	"github.com/nettune/nettune/policy"
)

// The funnel picture: one column per stage, left to right in path order. Each column is a
// bar to one scale for the whole funnel: what left the stage (out) at the bottom, what was
// dropped there stacked on it, then the residual no counter explains; a dashed outline is
// what entered (in) when that was measured. The stage the verdict names is outlined and
// marked above its column.
const (
	colWidth  = 150 // px per stage
	barWidth  = 56
	barTop    = 28  // room for the marker above the tallest bar
	barHeight = 150 // the tallest bar
	labelRows = 5
	rowHeight = 15
	minBar    = 2 // a drop too small for the scale still shows
)

type funnelView struct {
	Title, Dir    string
	Width, Height int
	Baseline      int // y of the bars' bottom
	Stages        []stageView
	Hidden        []string // stages with nothing measured and nothing dropped
	Label         string   // the SVG's accessible name
}

type stageView struct {
	Name, Mark, Tooltip string
	X, W, BarX, Mid     int       // column left edge and width, bar left edge, column centre
	Bars                []barView // out, dropped, residual, bottom up; then what entered
	Arrow               bool      // an arrow from the previous column
	ArrowY              int
	Labels              []labelView
}

// barView is one rectangle of a column; Class is out, drop, resid or in.
type barView struct {
	Class      string
	X, Y, W, H int
}

type labelView struct {
	Y           int
	Text, Class string
}

func newFunnelView(f policy.Funnel, r *policy.Report) funnelView {
	title := f.Interface
	if title == "" {
		title = "sockets"
	}
	if f.Queue != nil {
		title += " queue " + strconv.Itoa(*f.Queue)
	}
	if f.Netns != "" {
		title += " (netns " + f.Netns + ")"
	}
	v := funnelView{Title: title, Dir: f.Dir, Baseline: barTop + barHeight}
	var shown []policy.FunnelStage
	for _, s := range f.Stages {
		if s.InRate == 0 && s.OutRate == 0 && s.DropRate == 0 && s.Residual == 0 && markFor(f, s.Stage, r) == "" {
			v.Hidden = append(v.Hidden, string(s.Stage))
			continue
		}
		shown = append(shown, s)
	}
	scale := 0.0
	for _, s := range shown {
		scale = max(scale, s.InRate, s.OutRate+s.DropRate+max(s.Residual, 0))
	}
	h := func(x float64) int {
		if x <= 0 || scale == 0 {
			return 0
		}
		return max(int(x/scale*barHeight+0.5), minBar)
	}
	for i, s := range shown {
		x := 8 + i*colWidth
		sv := stageView{Name: string(s.Stage), Mark: markFor(f, s.Stage, r), X: x, W: colWidth, BarX: x + (colWidth-barWidth)/2,
			Mid: x + colWidth/2, Arrow: i > 0, ArrowY: v.Baseline - 8}
		y := v.Baseline
		stack := func(class string, x float64) {
			if hh := h(x); hh > 0 {
				y -= hh
				sv.Bars = append(sv.Bars, barView{Class: class, X: sv.BarX, Y: y, W: barWidth, H: hh})
			}
		}
		stack("out", s.OutRate)
		stack("drop", s.DropRate)
		if s.Known {
			stack("resid", s.Residual)
		}
		if hh := h(s.InRate); s.InKnown && hh > 0 {
			sv.Bars = append(sv.Bars, barView{Class: "in", X: sv.BarX - 3, Y: v.Baseline - hh, W: barWidth + 6, H: hh})
		}
		sv.Labels, sv.Tooltip = stageLabels(s, v.Baseline)
		v.Stages = append(v.Stages, sv)
	}
	v.Width = 16 + max(len(shown), 1)*colWidth
	v.Height = v.Baseline + 8 + labelRows*rowHeight
	v.Label = "funnel of " + title + " " + f.Dir + " in packets per second"
	return v
}

// stageLabels are the numbers under a column, and the same in one line for its tooltip.
func stageLabels(s policy.FunnelStage, baseline int) ([]labelView, string) {
	known := func(ok bool, v float64) string {
		if !ok {
			return "–"
		}
		return rateN(v)
	}
	rows := []labelView{{Text: string(s.Stage), Class: "name"}}
	if s.InKnown || s.OutKnown {
		rows = append(rows, labelView{Text: "in " + known(s.InKnown, s.InRate)}, labelView{Text: "out " + known(s.OutKnown, s.OutRate)})
	} else {
		rows = append(rows, labelView{Text: "drops counted only", Class: "muted"})
	}
	tip := string(s.Stage) + ": in " + known(s.InKnown, s.InRate) + "/s, out " + known(s.OutKnown, s.OutRate) +
		"/s, dropped " + rateN(s.DropRate) + "/s"
	if s.DropRate > 0 {
		d := "dropped " + rateN(s.DropRate)
		// The share of the stage's traffic, when what reached it is known (in, or out + dropped).
		if s.InKnown && s.InRate > 0 {
			d += " (" + pct(s.DropRate/s.InRate) + ")"
		} else if s.OutKnown {
			d += " (" + pct(s.DropRate/(s.OutRate+s.DropRate)) + ")"
		}
		rows = append(rows, labelView{Text: d, Class: "drop"})
	}
	if s.Known && s.Residual != 0 {
		rows = append(rows, labelView{Text: "residual " + signedRate(s.Residual), Class: "resid"})
		tip += ", residual " + signedRate(s.Residual) + "/s"
	}
	if s.Point != "" {
		tip += " (" + s.Point + ")"
	}
	for i := range rows {
		rows[i].Y = baseline + 8 + (i+1)*rowHeight - 3
	}
	return rows, tip
}
