package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// NodeTable writes a node's interval for a person: one verdict for the node (its worst
// namespace's, named by owner), then one block per namespace with loss, worst first (who
// owns it, its findings, plan and funnels), then one line counting the quiet namespaces.
func NodeTable(w io.Writer, res *pipeline.NodeResult) error {
	return NodeTableLook(w, res, Look{})
}

// NodeTableLook is NodeTable drawn for a terminal (width, colour) or for a pipe; Look.All
// lists the quiet namespaces and draws every funnel with traffic in the blocks.
func NodeTableLook(w io.Writer, res *pipeline.NodeResult, look Look) error {
	v := newNodeView(res)
	m := res.Meta
	p := &printer{w: w, look: look}
	head := fmt.Sprintf("%s, %s over %s (%s, %s)", m.Host, m.Kernel, seconds(v.interval()),
		modeLine(m, nil), plural(uint64(len(res.Namespaces)), "namespace", "namespaces"))
	p.f("%s\n", wrap("nettune advise: ", "  ", head, look.Width))
	if note := probesNote(m); note != "" {
		p.f("%s\n", wrap("probes: ", "        ", note, look.Width))
	}
	p.f("\n")

	if v.worst != nil {
		p.place = place(v.worst)
		p.verdict(inBlock(v.worst.Report))
		p.place = ""
	} else {
		p.f("%s\n", p.look.paint(styleAmber, "VERDICT: no namespace could be read in this interval."))
	}
	if n := len(v.lossy); n > 1 {
		p.f("         %s lose packets: one block each below, worst first.\n", plural(uint64(n), "namespace", "namespaces"))
	}

	shown := v.shown()
	for i, ns := range shown {
		p.block(i+1, len(shown), ns)
	}

	p.f("\n%s\n", wrap("", "  ", quietLine(v, look.All), look.Width))
	if look.All {
		for _, ns := range v.quiet {
			p.f("  - %s (%s)\n", title(ns), ns.Namespace.ID)
		}
	}
	if g := gone(res); g != "" {
		p.f("%s\n", wrap("", "  ", g, look.Width))
	}
	if len(res.Errors) > 0 {
		p.f("\nNOT READ\n")
		for _, e := range unique(res.Errors) {
			p.f("%s\n", wrap("  - ", "    ", e, look.Width))
		}
	}
	if len(m.Foreign) > 0 {
		p.f("\nFOREIGN PROGRAMS  (left in place; nettune counts around them)\n")
		for _, fp := range m.Foreign {
			p.f("  %s %s: id %d %q %s\n", fp.Link, fp.Hook, fp.ID, fp.Name, fp.Mode)
		}
	}
	p.coverage(m.Coverage)
	// What could not be measured on the host is said once, at the end, unless the host
	// has a block of its own that said it.
	for _, ns := range v.quiet {
		if ns.Own {
			p.missing(ns.Report)
		}
	}
	return p.err
}

// block is one namespace with findings: its owner, then its report as for one namespace.
func (p *printer) block(n, of int, ns *pipeline.NamespaceResult) {
	head := title(ns)
	if r := lossRate(ns.Report); r > 0 {
		head += ": loses " + rate(r) + "/s"
	}
	p.f("\n%s\n", p.look.paint(styleBold, fmt.Sprintf("━━ %d/%d  %s", n, of, head)))
	for _, l := range ownerLines(ns) {
		p.f("%s\n", wrap("   ", "     ", l, p.look.Width))
	}
	r := inBlock(ns.Report)
	p.details(r)
	p.funnel(r)
	p.missing(ns.Report)
}

// missing lists what a report could not measure.
func (p *printer) missing(r *policy.Report) {
	if len(r.Missing) == 0 {
		return
	}
	p.f("\nNOT MEASURED\n")
	for _, s := range unique(r.Missing) {
		p.f("  - %s\n", s)
	}
}

// quietLine counts the namespaces without findings: "12 quiet namespaces (no loss in this
// interval): the host, 3 pods, 8 others; --all lists them."
func quietLine(v nodeView, all bool) string {
	if len(v.quiet) == 0 {
		return "No quiet namespace: every namespace read has findings above."
	}
	var host bool
	var pods, named, other uint64
	for _, ns := range v.quiet {
		switch {
		case ns.Namespace.Host || ns.Owner.Host:
			host = true
		case ns.Owner.Pod.Name != "":
			pods++
		case len(ns.Namespace.Names) > 0:
			named++
		default:
			other++
		}
	}
	var parts []string
	if host {
		parts = append(parts, "the host")
	}
	if pods > 0 {
		parts = append(parts, plural(pods, "pod", "pods"))
	}
	if named > 0 {
		parts = append(parts, plural(named, "named netns", "named netns"))
	}
	if other > 0 {
		parts = append(parts, plural(other, "other", "others"))
	}
	s := fmt.Sprintf("%s (no loss in this interval): %s", plural(uint64(len(v.quiet)), "quiet namespace", "quiet namespaces"), strings.Join(parts, ", "))
	if all {
		return s + ":"
	}
	return s + "; --all lists them."
}
