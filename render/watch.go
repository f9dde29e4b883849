package render

import (
	"io"

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
