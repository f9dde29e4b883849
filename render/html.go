package render

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// FormatHTML is advise's report to share: one self-contained page (docs/operations.md).
const FormatHTML Format = "html"

//go:embed html.tmpl
var htmlSource string

// htmlPage is parsed once; html/template escapes every value that came from the host
// (namespace and interface names, firewall rules, evidence notes) for its context.
var htmlPage = template.Must(template.New("report").Parse(htmlSource))

// HTML writes advise's report as one HTML page that needs nothing else to be read: no
// network, no script; the funnels are inline SVG and the styles are inline, with print
// styles, so it can be attached to a ticket or printed.
func HTML(w io.Writer, res *pipeline.Result) error {
	return htmlPage.Execute(w, newReportView(res))
}

// reportView is what the page shows, computed here so the template only lays it out.
type reportView struct {
	Host, Kernel, Netns, Interval, Mode, Attribution string
	Notes                                            []string
	Verdict                                          string   // the verdict's first sentence
	VerdictMore                                      []string // its further lines
	Tone                                             string   // loss, other, unknown or clean: the verdict's colour
	Funnels                                          []funnelView
	Quiet                                            int // funnels without loss, not drawn
	Findings                                         []findingView
	Plan                                             []actionView
	Advice, Foreign, Missing, Unmeasured             []string
	CoverageHead                                     string   // partial in-path coverage: "W of A links fully watched"
	CoverageGaps                                     []string // what the probes could not watch
}

func newReportView(res *pipeline.Result) reportView {
	m, r := res.Meta, res.Report
	v := reportView{Host: m.Host, Kernel: m.Kernel, Netns: r.Netns, Interval: seconds(r.IntervalSeconds),
		Mode: m.Mode, Advice: unique(r.Advice), Missing: unique(r.Missing), Unmeasured: r.Unmeasured}
	if m.XDPMode != "" {
		v.Mode += ", xdp " + m.XDPMode
	}
	if c := m.Coverage; c != nil {
		v.Mode += fmt.Sprintf(", in-path on %d of %d links", c.Watched, c.Asked)
		if c.Partial() {
			v.CoverageHead, v.CoverageGaps = coverageHead(c), coverageGaps(c)
		}
	}
	if r.Attribution != nil {
		v.Attribution = pct(*r.Attribution)
	}
	if note := probesNote(m); note != "" {
		v.Notes = append(v.Notes, note)
	}
	v.Verdict, v.VerdictMore = verdictLines(r)
	v.Tone = verdictTone(r)
	for _, f := range r.Funnel {
		if !lossy(f) {
			v.Quiet++
			continue
		}
		v.Funnels = append(v.Funnels, newFunnelView(f, r))
	}
	for _, f := range r.Findings {
		v.Findings = append(v.Findings, newFindingView(f))
	}
	for i, a := range r.Plan {
		v.Plan = append(v.Plan, newActionView(i+1, a))
	}
	for _, fp := range m.Foreign {
		v.Foreign = append(v.Foreign, fmt.Sprintf("%s %s: id %d %q %s", fp.Link, fp.Hook, fp.ID, fp.Name, fp.Mode))
	}
	return v
}

// verdictLines is the table's verdict, the same words, as a heading and its lines.
func verdictLines(r *policy.Report) (string, []string) {
	var b bytes.Buffer
	(&printer{w: &b}).verdict(r)
	return splitVerdict(b.String())
}

// splitVerdict is the table's verdict lines as a heading and its further lines.
func splitVerdict(s string) (string, []string) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	first := strings.TrimPrefix(lines[0], "VERDICT: ")
	var more []string
	for _, l := range lines[1:] {
		more = append(more, strings.TrimSpace(l))
	}
	return first, more
}

func verdictTone(r *policy.Report) string {
	switch {
	case r.Loss():
		return "loss"
	case len(r.Findings) > 0 && r.Findings[0].Severity >= policy.SeverityWarning:
		return "other"
	case len(r.Unmeasured) > 0:
		return "unknown"
	}
	return "clean"
}

// lossy: a stage of the funnel dropped packets, or lost some no counter explains.
func lossy(f policy.Funnel) bool {
	for _, s := range f.Stages {
		if s.DropRate > 0 || (s.Known && s.Residual > 0) {
			return true
		}
	}
	return false
}

type findingView struct {
	ID, Severity, Class, Title, Rate, Ratio, Summary string
	Evidence, Sockets, Rules, Reasons                []string
	Checked, Peer                                    string
}

func newFindingView(f policy.Finding) findingView {
	v := findingView{ID: f.ID, Severity: f.Severity.String(), Class: string(f.Class),
		Title: string(f.Stage) + whereOf(f), Rate: rateN(f.DropRate), Ratio: pct(f.Ratio), Summary: f.Summary,
		Checked: strings.Join(f.Checked, "; ")}
	v.Evidence = evidenceLines(f.Evidence)
	v.Sockets = socketLines(f)
	if f.Peer != nil {
		v.Peer = peerLine(f.Peer)
	}
	for _, r := range f.Rules {
		v.Rules = append(v.Rules, ruleLine(r))
	}
	for _, d := range f.Reasons {
		s := fmt.Sprintf("%s ×%s (%s/s)", d.Reason, countN(d.Count), rateN(d.Rate))
		if d.Location != "" {
			s += " at " + d.Location
		}
		v.Reasons = append(v.Reasons, s)
	}
	return v
}

type actionView struct {
	N                                       int
	Knob, Current, Proposed, Flags, Command string
	Why, Risk, Answers                      string
}

func newActionView(n int, a policy.Action) actionView {
	flags := []string{string(a.Scope)}
	if a.Netns != "" {
		flags = append(flags, "netns "+a.Netns)
	}
	if a.Disruptive {
		flags = append(flags, "disruptive")
	}
	if a.AtCap {
		flags = append(flags, "at cap: advice only")
	}
	if a.MemoryBytes > 0 {
		flags = append(flags, "memory ≤ "+humanBytes(a.MemoryBytes))
	}
	return actionView{N: n, Knob: a.Knob, Current: a.Current, Proposed: a.Proposed, Flags: strings.Join(flags, ", "),
		Command: a.Command, Why: a.Why, Risk: a.Risk, Answers: strings.Join(a.Findings, ", ")}
}

// markFor is how a funnel's stage is marked: "verdict" for the place the verdict names,
// else the class of the worst finding there ("" when none).
func markFor(f policy.Funnel, st stage.Stage, r *policy.Report) string {
	top := -1 // the verdict's finding: the first capacity loss (findings are in its order)
	for i, x := range r.Findings {
		if x.Class == stage.ClassCapacity && x.Severity >= policy.SeverityWarning {
			top = i
			break
		}
	}
	for i, x := range r.Findings {
		if x.Stage != st || x.Interface != f.Interface || x.Netns != f.Netns || x.Severity < policy.SeverityWarning {
			continue
		}
		if i == top {
			return "verdict"
		}
		return string(x.Class)
	}
	return ""
}
