package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// Table writes the report for a person: the verdict first (where loss is, how bad, what to
// do), then findings with their evidence, the plan, and the funnel.
func Table(w io.Writer, res *pipeline.Result) error { return TableLook(w, res, Look{}) }

// TableLook is Table drawn for a terminal (width, colour) or for a pipe.
func TableLook(w io.Writer, res *pipeline.Result, look Look) error {
	m, r := res.Meta, res.Report
	p := &printer{w: w, look: look}
	where := m.Host
	if r.Netns != "" {
		where += ", netns " + r.Netns
	}
	p.f("%s\n", wrap("nettune advise: ", "  ", fmt.Sprintf("%s, %s over %s (%s)", where, m.Kernel, seconds(r.IntervalSeconds), modeLine(m, r.Attribution)), look.Width))
	if note := probesNote(m); note != "" {
		p.f("%s\n", wrap("probes: ", "        ", note, look.Width))
	}
	p.f("\n")

	p.verdict(r)
	p.details(r)
	if len(m.Foreign) > 0 {
		p.f("\nFOREIGN PROGRAMS  (left in place; nettune counts around them)\n")
		for _, fp := range m.Foreign {
			p.f("  %s %s: id %d %q %s\n", fp.Link, fp.Hook, fp.ID, fp.Name, fp.Mode)
		}
	}
	p.coverage(m.Coverage)
	p.funnel(r)
	p.missing(r)
	return p.err
}

// details are a report's findings, plan and advice.
func (p *printer) details(r *policy.Report) {
	if len(r.Findings) > 0 {
		p.f("\nFINDINGS\n")
		for i, f := range r.Findings {
			p.finding(i+1, f)
		}
	}
	if len(r.Plan) > 0 {
		p.f("\nPLAN  (preview: nettune apply --dry-run; apply: nettune apply)\n")
		for i, a := range r.Plan {
			p.action(i+1, a)
		}
	}
	if len(r.Advice) > 0 {
		p.f("\nADVICE\n")
		for _, a := range unique(r.Advice) {
			p.f("%s\n", wrap("  - ", "    ", a, p.look.Width))
		}
	}
}

type printer struct {
	w    io.Writer
	look Look
	err  error
	// place names the namespace of a node's verdict by its owner ("in pod default/dns-0",
	// "on the host"); empty for a report of one namespace.
	place string
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}

func modeLine(m pipeline.Meta, attribution *float64) string {
	s := "mode " + m.Mode
	if m.XDPMode != "" {
		s += ", xdp " + m.XDPMode
	}
	if c := m.Coverage; c != nil {
		s += fmt.Sprintf(", in-path on %d of %d links", c.Watched, c.Asked)
	}
	if attribution != nil {
		s += fmt.Sprintf(", bpf attributes %.0f%% of counted drops", *attribution*100)
	}
	return s
}

// coverage lists what the in-path probes could not watch, one line per hook and reason.
func (p *printer) coverage(c *model.Coverage) {
	if !c.Partial() {
		return
	}
	p.f("\nIN-PATH COVERAGE  %s\n", p.look.paint(styleAmber, coverageHead(c)))
	for _, l := range coverageGaps(c) {
		p.f("%s\n", wrap("  - ", "    ", l, p.look.Width))
	}
}

func coverageHead(c *model.Coverage) string {
	return fmt.Sprintf("%d of %d links fully watched", c.Watched, c.Asked)
}

// coverageGaps is one line per hook and reason: where (three places at most) and why.
func coverageGaps(c *model.Coverage) []string {
	type key struct {
		hook   string
		reason model.GapReason
	}
	var order []key
	gaps := map[key][]model.Gap{}
	for _, g := range c.Gaps {
		k := key{g.Hook, g.Reason}
		if gaps[k] == nil {
			order = append(order, k)
		}
		gaps[k] = append(gaps[k], g)
	}
	lines := make([]string, 0, len(order))
	for _, k := range order {
		gs := gaps[k]
		var where []string
		for _, g := range gs[:min(len(gs), 3)] {
			switch {
			case g.Link != "":
				where = append(where, g.Link)
			case g.Netns != 0:
				where = append(where, fmt.Sprintf("every link of netns %d", g.Netns))
			default:
				where = append(where, "a namespace")
			}
		}
		if len(gs) > 3 {
			where = append(where, fmt.Sprintf("%d more", len(gs)-3))
		}
		hook := k.hook
		if hook == "" {
			hook = "every hook"
		}
		lines = append(lines, fmt.Sprintf("%s on %s: %s (%s)", hook, strings.Join(where, ", "), k.reason, gs[0].Detail))
	}
	return lines
}

func (p *printer) verdict(r *policy.Report) {
	var capacity, other []policy.Finding
	for _, f := range r.Findings {
		if f.Severity < policy.SeverityWarning {
			continue
		}
		if f.Class == stage.ClassCapacity {
			capacity = append(capacity, f)
		} else {
			other = append(other, f)
		}
	}
	switch {
	case len(capacity) > 0:
		top := capacity[0]
		place := p.placed()
		if len(top.Sockets) > 0 && top.Sockets[0].Pod != "" {
			place = "" // the socket's owner names the pod
		}
		p.f("%s\n", p.look.paint(styleLoss, wrap("VERDICT: ", "         ", fmt.Sprintf("packets are lost at %s%s%s: %s/s (%s of that stage's traffic).",
			top.Stage, place, verdictWhere(top), rate(top.DropRate), pct(top.Ratio)), p.look.Width)))
		p.f("%s\n", wrap("         ", "         ", top.Summary, p.look.Width))
		if i := actionFor(r.Plan, top.ID); i >= 0 {
			a := r.Plan[i]
			p.f("         Change: plan step %d of %d: %s  (%s → %s)\n", i+1, len(r.Plan), orKnob(a), a.Current, a.Proposed)
			if i > 0 {
				// The plan fixes the lowest stage of the path first (docs/rules.md §4): loss
				// there hides demand higher up.
				first := "Step 1 comes"
				if i > 1 {
					first = fmt.Sprintf("Steps 1–%d come", i)
				}
				p.f("         %s first: the plan changes the lowest stage of the path first (%s).\n", first, r.Plan[0].Knob)
			}
		} else {
			p.f("         No knob nettune can change addresses it; see the finding.\n")
		}
		if n := len(capacity) - 1; n > 0 {
			p.f("         %s below.\n", plural(uint64(n), "more capacity finding", "more capacity findings"))
		}
	case len(other) > 0:
		p.f("%s\n", p.look.paint(styleBold, wrap("VERDICT: ", "         ", fmt.Sprintf("no capacity loss; drops seen are %s (%s%s%s, %s/s), not something tuning fixes.",
			other[0].Class, other[0].Stage, p.placed(), whereOf(other[0]), rate(other[0].DropRate)), p.look.Width)))
	case len(r.Unmeasured) > 0:
		p.f("%s\n", wrap(p.look.paint(styleAmber, "VERDICT:")+" ", "         ", "no loss found in what could be measured, but these were not: "+
			strings.Join(r.Unmeasured, "; ")+".", p.look.Width))
	default:
		p.f("%s\n", p.look.paint(styleGreen, "VERDICT: no packet loss found in this interval."))
	}
}

// placed is the verdict's namespace as a phrase after the stage.
func (p *printer) placed() string {
	if p.place == "" {
		return ""
	}
	return " " + p.place
}

func whereOf(f policy.Finding) string {
	parts := whereParts(f)
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// whereParts are the place of a finding: hook, interface, queue, CPU, netns.
func whereParts(f policy.Finding) []string {
	var parts []string
	if f.Hook != "" {
		parts = append(parts, string(f.Hook)+" hook")
	}
	if f.Interface != "" {
		parts = append(parts, f.Interface)
	}
	if f.Queue != nil {
		parts = append(parts, "queue "+strconv.Itoa(*f.Queue))
	}
	if f.CPU != nil {
		parts = append(parts, "cpu "+strconv.Itoa(*f.CPU))
	}
	if f.Netns != "" {
		parts = append(parts, "netns "+f.Netns)
	}
	return parts
}

// actionFor is the index of the plan step that answers a finding, -1 when none does.
func actionFor(plan []policy.Action, findingID string) int {
	for i := range plan {
		for _, id := range plan[i].Findings {
			if id == findingID {
				return i
			}
		}
	}
	return -1
}

// orKnob is the action's command, or its knob when it has none (at cap, value unknown).
func orKnob(a policy.Action) string {
	if a.Command != "" {
		return a.Command
	}
	return a.Knob
}

func (p *printer) finding(n int, f policy.Finding) {
	sev, class := f.Severity.String(), string(f.Class)
	p.f("%2d. [%s] %s%s, %s class: %s/s, %s\n", n, p.look.paint(severityStyle[sev], sev), p.look.paint(styleBold, string(f.Stage)), whereOf(f),
		p.look.paint(classStyle[class], class), rate(f.DropRate), pct(f.Ratio))
	p.f("%s\n", wrap("    ", "    ", f.Summary, p.look.Width))
	for _, r := range f.Rules {
		p.f("%s\n", wrap("    rule: ", "          ", ruleLine(r), p.look.Width))
	}
	for _, e := range evidenceLines(f.Evidence) {
		p.f("%s\n", wrap("    evidence: ", "              ", e, p.look.Width))
	}
	for _, s := range socketLines(f) {
		p.f("%s\n", wrap("    socket: ", "            ", s, p.look.Width))
	}
	if f.Peer != nil {
		p.f("%s\n", wrap("    peer: ", "          ", peerLine(f.Peer), p.look.Width))
	}
	for _, d := range f.Reasons {
		loc := ""
		if d.Location != "" {
			loc = " at " + d.Location
		}
		p.f("%s\n", wrap("    drop reason: ", "                 ", fmt.Sprintf("%s ×%s (%s/s)%s", d.Reason, countN(d.Count), rate(d.Rate), loc), p.look.Width))
	}
	if len(f.Checked) > 0 {
		p.f("    no counter shows these drops; checked: %s\n", strings.Join(f.Checked, "; "))
	}
}

// ruleLine names a firewall rule as nft --handle list ruleset shows it.
func ruleLine(r policy.FirewallRule) string {
	s := fmt.Sprintf("%s %s %s", r.Family, r.Table, r.Chain)
	if r.Handle != 0 {
		s += fmt.Sprintf(" handle %d", r.Handle)
	}
	if r.Hook != "" {
		s += " (" + string(r.Hook) + " hook)"
	}
	s += ": " + r.Expr
	if r.Packets != nil {
		s += "  [+" + countN(*r.Packets) + " in the interval]"
	}
	return s
}

func (p *printer) action(n int, a policy.Action) {
	flags := []string{string(a.Scope)}
	if a.Disruptive {
		flags = append(flags, "disruptive")
	}
	if a.AtCap {
		flags = append(flags, "at cap: advice only")
	}
	if a.MemoryBytes > 0 {
		flags = append(flags, "memory ≤ "+humanBytes(a.MemoryBytes))
	}
	p.f("%s\n", wrap(fmt.Sprintf("%2d. ", n), "    ", fmt.Sprintf("%s: %s → %s  [%s]", a.Knob, a.Current, a.Proposed, strings.Join(flags, ", ")), p.look.Width))
	p.f("    run:  %s\n", a.Command)
	p.f("%s\n", wrap("    why:  ", "          ", a.Why, p.look.Width))
	if a.Risk != "" {
		p.f("%s\n", wrap("    risk: ", "          ", a.Risk, p.look.Width))
	}
}

// funnel draws the funnels that lost packets (with Look.All, every one with traffic) and
// counts the others in one line.
func (p *printer) funnel(r *policy.Report) {
	var shown []policy.Funnel
	for _, f := range r.Funnel {
		if lossy(f) || (p.look.All && active(f)) {
			shown = append(shown, f)
		}
	}
	if p.err != nil || len(r.Funnel) == 0 {
		return
	}
	if len(shown) > 0 {
		p.f("\nFUNNEL  packets/s: █ out  ▒ dropped  ? residual  · entered\n")
	}
	for _, f := range shown {
		p.funnelBars(f, r)
	}
	if quiet := len(r.Funnel) - len(shown); quiet > 0 {
		what := "without loss"
		if p.look.All {
			what = "with no traffic and no loss"
		}
		hint := "--all shows them, -o json has all"
		if p.look.All {
			hint = "-o json has all"
		}
		p.f("%s\n", p.look.paint(styleDim, "("+plural(uint64(quiet), "funnel", "funnels")+" "+what+" not shown; "+hint+")"))
	}
}

// active: the funnel saw traffic, drops or an unexplained residual in the interval.
func active(f policy.Funnel) bool {
	for _, s := range f.Stages {
		if s.InRate > 0 || s.OutRate > 0 || s.DropRate > 0 || s.Residual != 0 {
			return true
		}
	}
	return false
}

// rate is a packet rate for people: whole numbers from 100 up, with thousands separators.
func rate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return grouped(strconv.FormatFloat(v, 'f', 0, 64))
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

func pct(r float64) string {
	switch {
	case r == 0:
		return "0%"
	case r >= 0.1:
		return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(r*100, 'g', 2, 64) + "%"
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 1, 64) + "s" }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// probesNote says why the mode is what it is: the probes' note, or, in counters mode without
// one, that no probe was asked for.
func probesNote(m pipeline.Meta) string {
	if note := uniqueNote(m.BPFNote); note != "" {
		return note
	}
	if m.Mode == pipeline.ModeCounters {
		return "none attached: counters only (--no-bpf or bpf.enabled: false)"
	}
	return ""
}
