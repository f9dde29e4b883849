package render

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nettune/nettune/policy"
)

// The terminal's funnel: one row per stage in path order, a bar to one scale for the whole
// funnel (out █, dropped ▒, residual ?, and · up to what entered when that was measured),
// then the numbers; the stage the verdict names is marked ▶.
func (p *printer) funnelBars(f policy.Funnel, r *policy.Report) {
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
	p.f("%s\n", p.look.paint(styleBold, title+" "+f.Dir))

	var shown []policy.FunnelStage
	var hidden []string
	nameW := 0
	for _, s := range f.Stages {
		if s.InRate == 0 && s.OutRate == 0 && s.DropRate == 0 && s.Residual == 0 && markFor(f, s.Stage, r) == "" {
			hidden = append(hidden, string(s.Stage))
			continue
		}
		shown = append(shown, s)
		nameW = max(nameW, len(s.Stage))
	}
	scale := 0.0
	for _, s := range shown {
		scale = max(scale, s.InRate, s.OutRate+s.DropRate+max(s.Residual, 0))
	}
	// The bars take what the numbers leave of the width: mark, name, bar, numbers.
	barW := 24
	if p.look.Width > 0 {
		plain := &printer{}
		nums := 0
		for _, s := range shown {
			nums = max(nums, utf8.RuneCountInString(plain.stageNumbers(s, markFor(f, s.Stage, r))))
		}
		barW = min(max(p.look.Width-2-nameW-1-2-nums, 8), 60)
	}
	cells := func(v float64) int {
		if v <= 0 || scale == 0 {
			return 0
		}
		return max(int(v/scale*float64(barW)+0.5), 1)
	}
	for _, s := range shown {
		mark := "  "
		m := markFor(f, s.Stage, r)
		if m == "verdict" {
			mark = p.look.paint(styleLoss, "▶ ")
		}
		out, drop := cells(s.OutRate), cells(s.DropRate)
		res := 0
		if s.Known {
			res = cells(s.Residual)
		}
		if over := out + drop + res - barW; over > 0 { // rounding up the small parts
			out = max(out-over, 0)
		}
		used := min(out+drop+res, barW)
		in := 0
		if s.InKnown {
			in = max(cells(s.InRate)-used, 0)
		}
		dropStyle := styleAmber
		if m == "verdict" || m == "capacity" {
			dropStyle = styleRed
		} else if m == "policy" {
			dropStyle = styleMag
		}
		bar := strings.Repeat("█", out) + p.look.paint(dropStyle, strings.Repeat("▒", drop)) +
			p.look.paint(styleAmber, strings.Repeat("?", res)) + p.look.paint(styleDim, strings.Repeat("·", in))
		pad := strings.Repeat(" ", max(barW-used-in, 0))
		p.f("%s%-*s %s%s  %s\n", mark, nameW, s.Stage, bar, pad, p.stageNumbers(s, m))
	}
	if len(hidden) > 0 {
		p.f("%s\n", p.look.paint(styleDim, wrap("  (nothing measured or dropped: ", "   ", strings.Join(hidden, ", ")+")", p.look.Width)))
	}
}

// stageNumbers: "in 384,123  out 382,480  residual 1,643", "dropped 382,393 (100.0%)".
func (p *printer) stageNumbers(s policy.FunnelStage, mark string) string {
	var parts []string
	if s.InKnown {
		parts = append(parts, "in "+rate(s.InRate))
	}
	if s.OutKnown {
		parts = append(parts, "out "+rate(s.OutRate))
	}
	if s.DropRate > 0 {
		d := "dropped " + rate(s.DropRate)
		if s.InKnown && s.InRate > 0 {
			d += " (" + pct(s.DropRate/s.InRate) + ")"
		} else if s.OutKnown {
			d += " (" + pct(s.DropRate/(s.OutRate+s.DropRate)) + ")"
		}
		style := styleAmber
		if mark == "verdict" || mark == "capacity" {
			style = styleRed
		} else if mark == "policy" {
			style = styleMag
		}
		parts = append(parts, p.look.paint(style, d))
	}
	if s.Known && s.Residual != 0 {
		parts = append(parts, p.look.paint(styleAmber, "residual "+signedRate(s.Residual)))
	}
	line := strings.Join(parts, "  ")
	if mark == "verdict" {
		line += p.look.paint(styleLoss, "  ◀ loss")
	}
	return line
}
