package render

import (
	"fmt"
	"io"

	"github.com/nettune/nettune/pipeline"
)

// NodeWatch writes one frame of advise --watch over every namespace: the header, the node's
// verdict, one block per namespace that lost packets (worst first, as advise draws them),
// the line counting the quiet ones and the namespaces that came and went — what changes from
// one interval to the next; advise without --watch has the rest.
func NodeWatch(w io.Writer, res *pipeline.NodeResult, look Look) error {
	v := newNodeView(res)
	m := res.Meta
	p := &printer{w: w, look: look}
	head := fmt.Sprintf("%s, %s, every %s (%s, %s)", m.Host, m.Kernel, seconds(v.interval()),
		modeLine(m, nil), plural(uint64(len(res.Namespaces)), "namespace", "namespaces"))
	p.f("%s\n\n", wrap("nettune advise --watch: ", "  ", head, look.Width))
	if v.worst != nil {
		p.place = place(v.worst)
		p.verdict(inBlock(v.worst.Report))
		p.place = ""
	} else {
		p.f("%s\n", p.look.paint(styleAmber, "VERDICT: no namespace could be read in this interval."))
	}
	for i, ns := range v.lossy {
		p.block(i+1, len(v.lossy), ns)
	}
	p.f("\n%s\n", wrap("", "  ", watchQuietLine(v), look.Width))
	if g := gone(res); g != "" {
		p.f("%s\n", wrap("", "  ", g, look.Width))
	}
	if n := len(unique(res.Errors)); n > 0 {
		p.f("%s\n", wrap("", "  ", plural(uint64(n), "error", "errors")+" reading namespaces in this interval; advise lists them.", look.Width))
	}
	return p.err
}

// watchQuietLine counts every namespace without a block: the quiet ones and those with a
// warning but no loss (advise shows the latter in full).
func watchQuietLine(v nodeView) string {
	n := uint64(len(v.quiet) + len(v.noted))
	if n == 0 {
		return "Every namespace read lost packets."
	}
	s := plural(n, "namespace", "namespaces") + " without loss in this interval"
	if len(v.noted) > 0 {
		s += fmt.Sprintf(" (%d with a warning: advise shows it)", len(v.noted))
	}
	return s + "."
}
