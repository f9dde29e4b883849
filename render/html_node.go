package render

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/nettune/nettune/pipeline"
)

//go:embed html_node.tmpl
var htmlNodeSource string

// htmlNodePage is the page of a node: the single page's styles and sections, one block of
// sections per namespace with findings.
var htmlNodePage = template.Must(template.Must(htmlPage.Clone()).New("node").Parse(htmlNodeSource))

// NodeHTML writes a node's interval as one self-contained page, as HTML does for one
// namespace: the node's verdict, then one block per namespace with findings (loss first,
// worst first) with its owner, then the count of quiet namespaces.
func NodeHTML(w io.Writer, res *pipeline.NodeResult) error {
	return htmlNodePage.ExecuteTemplate(w, "node", newNodePageView(res))
}

type nodePageView struct {
	Host, Kernel, Interval, Mode, Count string
	Notes                               []string
	Verdict                             string
	VerdictMore                         []string
	Tone                                string
	Blocks                              []nodeBlockView
	Quiet, Gone                         string
	Errors, Foreign, Missing            []string
	CoverageHead                        string
	CoverageGaps                        []string
}

type nodeBlockView struct {
	ID, Title string
	Owner     []string
	Report    reportView
}

func newNodePageView(res *pipeline.NodeResult) nodePageView {
	v := newNodeView(res)
	m := res.Meta
	pv := nodePageView{Host: m.Host, Kernel: m.Kernel, Interval: seconds(v.interval()), Mode: modeLine(m, nil),
		Count: countN(uint64(len(res.Namespaces))), Quiet: quietLine(v, false), Gone: gone(res), Errors: unique(res.Errors)}
	pv.Mode = strings.TrimPrefix(pv.Mode, "mode ")
	if note := probesNote(m); note != "" {
		pv.Notes = append(pv.Notes, note)
	}
	if v.worst != nil {
		var b strings.Builder
		(&printer{w: &b, place: place(v.worst)}).verdict(inBlock(v.worst.Report))
		pv.Verdict, pv.VerdictMore = splitVerdict(b.String())
		pv.Tone = verdictTone(v.worst.Report)
	}
	if c := m.Coverage; c.Partial() {
		pv.CoverageHead, pv.CoverageGaps = coverageHead(c), coverageGaps(c)
	}
	for _, fp := range m.Foreign {
		pv.Foreign = append(pv.Foreign, fmt.Sprintf("%s %s: id %d %q %s", fp.Link, fp.Hook, fp.ID, fp.Name, fp.Mode))
	}
	for _, ns := range v.quiet {
		if ns.Own {
			pv.Missing = unique(ns.Report.Missing)
		}
	}
	for _, ns := range v.shown() {
		head := title(ns)
		if r := lossRate(ns.Report); r > 0 {
			head += fmt.Sprintf(": loses %s/s", rate(r))
		}
		one := res.Result(ns)
		one.Report = inBlock(one.Report)
		rv := newReportView(one)
		rv.Notes, rv.Foreign, rv.CoverageHead, rv.CoverageGaps = nil, nil, "", nil // said once, for the node
		pv.Blocks = append(pv.Blocks, nodeBlockView{ID: ns.Namespace.ID.String(), Title: head, Owner: ownerLines(ns), Report: rv})
	}
	return pv
}
