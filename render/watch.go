package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/nettune/nettune/pipeline"
)

// Watch writes one frame of advise --watch: the header, the verdict and the funnels that
// lost packets — what a person watches change; advise without --watch has the rest.
func Watch(w io.Writer, res *pipeline.Result, look Look) error {
	m, r := res.Meta, res.Report
	p := &printer{w: w, look: look}
	where := m.Host
	if r.Netns != "" {
		where += ", netns " + r.Netns
	}
	p.f("nettune advise --watch: %s, %s, every %s (%s)\n\n", where, m.Kernel, seconds(r.IntervalSeconds), modeLine(m, r.Attribution))
	p.verdict(r)
	p.funnel(r)
	return p.err
}

// Fit cuts a frame to the rows of a terminal of width × height, lines longer than the width
// counting as the rows they wrap to, so the top of the frame — header and verdict — stays on
// screen instead of scrolling away. What is cut is counted on the last row. height 0 (unknown)
// leaves the frame whole.
func Fit(frame []byte, width, height int) []byte {
	lines := strings.SplitAfter(string(frame), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	rows := func(l string) int {
		n := visibleLen(strings.TrimRight(l, "\n"))
		if width <= 0 || n <= width {
			return 1
		}
		return (n + width - 1) / width
	}
	total := 0
	for _, l := range lines {
		total += rows(l)
	}
	if height <= 0 || total <= height {
		return frame
	}
	var b strings.Builder
	used := 0
	kept := 0
	for _, l := range lines {
		if used+rows(l) > height-1 {
			break
		}
		b.WriteString(l)
		used += rows(l)
		kept++
	}
	fmt.Fprintf(&b, "… %s: a taller terminal or advise without --watch shows them\n",
		plural(uint64(len(lines)-kept), "more line", "more lines"))
	return []byte(b.String())
}
