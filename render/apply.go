package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// Apply writes the result of apply or apply --dry-run; the table starts with what the
// interval's report r says, so a dry run explains itself. JSON is the result alone.
func Apply(w io.Writer, f Format, res *apply.Result, r *policy.Report) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, res)
	case FormatTable:
		return ApplyTable(w, res, r, Look{})
	}
	return errFormat("apply", f)
}

// ApplyTable is apply's table drawn for a terminal (width, colour) or for a pipe.
func ApplyTable(w io.Writer, res *apply.Result, r *policy.Report, look Look) error {
	_, err := io.WriteString(w, applyText(res, r, look))
	return err
}

func applyText(res *apply.Result, r *policy.Report, look Look) string {
	if len(res.Steps) == 0 {
		if r.Loss() {
			return "loss found, but no knob nettune may change addresses it (see nettune advise)\n"
		}
		return "nothing to do: no loss that tuning addresses in this interval\n"
	}
	head := "apply"
	if res.DryRun {
		head = "dry run (nothing changed)"
	}
	// The answer first: how many actions and what became of them, then one line each.
	return fmt.Sprintf("%s: %s (%s)\n%s", head, plural(uint64(len(res.Steps)), "action", "actions"), summary(res), steps(res, look))
}

// ApplyNode writes the result of apply or apply --dry-run over every namespace of a node;
// JSON is the result alone, each step naming its namespace (netns, netns_ino, netns_owner).
func ApplyNode(w io.Writer, f Format, res *apply.Result, nr *pipeline.NodeResult) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, res)
	case FormatTable:
		return ApplyNodeTable(w, res, nr, Look{})
	}
	return errFormat("apply", f)
}

// ApplyNodeTable is the node run's table: first what it found and did over how many
// namespaces, then one line per step, each naming the namespace (and its pod) it changes.
func ApplyNodeTable(w io.Writer, res *apply.Result, nr *pipeline.NodeResult, look Look) error {
	_, err := io.WriteString(w, applyNodeText(res, nr, look))
	return err
}

func applyNodeText(res *apply.Result, nr *pipeline.NodeResult, look Look) string {
	lossy := len(nr.Lossy())
	examined := plural(uint64(len(nr.Namespaces)), "namespace", "namespaces")
	if len(res.Steps) == 0 {
		if lossy > 0 {
			return fmt.Sprintf("loss found in %s of %s, but no knob nettune may change addresses it (see nettune advise)\n",
				plural(uint64(lossy), "namespace", "namespaces"), examined)
		}
		return fmt.Sprintf("nothing to do: no loss that tuning addresses in this interval (%s examined)\n", examined)
	}
	head := "apply"
	if res.DryRun {
		head = "dry run (nothing changed)"
	}
	return fmt.Sprintf("%s: %s for the loss in %d of %s (%s)\n%s", head, plural(uint64(len(res.Steps)), "action", "actions"),
		lossy, examined, summary(res), steps(res, look))
}

// summary is the run by decision: "would change 1, advice only 1, failed 1".
func summary(res *apply.Result) string {
	n := map[apply.Decision]int{}
	for _, s := range res.Steps {
		n[s.Decision]++
	}
	change := "changed"
	if res.DryRun {
		change = "would change"
	}
	var parts []string
	for _, d := range []struct {
		d    apply.Decision
		name string
	}{{apply.DecideChange, change}, {apply.DecideUnchanged, "already set"}, {apply.DecideAdvice, "advice only"}, {apply.DecideFailed, "failed"}, {apply.DecideGone, "namespace gone"}} {
		if n[d.d] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", d.name, n[d.d]))
		}
	}
	return strings.Join(parts, ", ")
}

// Rollback writes the result of rollback.
func Rollback(w io.Writer, f Format, res *apply.Result) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, res)
	case FormatTable:
		return RollbackTable(w, res, Look{})
	}
	return errFormat("rollback", f)
}

// Restore writes the result of restore (at boot, from a unit: no terminal to draw for).
func Restore(w io.Writer, f Format, res *apply.Result) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, res)
	case FormatTable:
		text := steps(res, Look{})
		if len(res.Steps) == 0 {
			text = "nothing to restore: no device or IRQ knob applied with --persist is in effect\n"
		}
		_, err := io.WriteString(w, text)
		return err
	}
	return errFormat("restore", f)
}

// RollbackTable is rollback's table drawn for a terminal (width, colour) or for a pipe.
func RollbackTable(w io.Writer, res *apply.Result, look Look) error {
	text := steps(res, look)
	if len(res.Steps) == 0 {
		text = "nothing to roll back\n" + persisted(res.Persist)
	}
	_, err := io.WriteString(w, text)
	return err
}

// steps is one line per step, after the journal id and what the run could not take into
// account.
func steps(r *apply.Result, look Look) string {
	var b strings.Builder
	if r.ID != "" {
		fmt.Fprintf(&b, "journal id %s\n", r.ID)
	}
	if r.Degraded != "" {
		fmt.Fprintf(&b, "degraded: %s\n", r.Degraded)
	}
	for _, s := range r.Steps {
		b.WriteString(step(s, look))
		b.WriteByte('\n')
	}
	b.WriteString(persisted(r.Persist))
	return b.String()
}

// persisted is what a run did to nettune's sysctl.d file: one line, or none.
func persisted(p *apply.PersistResult) string {
	switch {
	case p == nil:
		return ""
	case p.Action == "written":
		return fmt.Sprintf("persisted in %s: %s\n", p.File, strings.Join(p.Keys, ", "))
	case p.Action == "removed":
		return fmt.Sprintf("removed %s: no sysctl is persisted any more\n", p.File)
	}
	return fmt.Sprintf("not persisted: %s\n", p.Note)
}

// step: "change sysctl:net.core.somaxconn [netns x] 4096 → 8192 `sysctl -w ...`: why; note".
// Every step says where it takes effect: a global knob changes every namespace on the host.
// On a terminal the decision is coloured and the reasons wrap under the line; the command
// stays whole on the first line, to be copied.
func step(s apply.Step, look Look) string {
	const indent = "          "
	var h strings.Builder
	h.WriteString(s.Knob)
	if sc := scopeOf(s.Scope, s.Netns, s.NetnsOwner.String()); sc != "" {
		h.WriteString(" " + sc)
	}
	if s.Persist {
		h.WriteString(" [persist]")
	}
	if s.Current != "" || s.Proposed != "" {
		fmt.Fprintf(&h, " %s → %s", orDash(s.Current), orDash(s.Proposed))
	}
	if s.Got != "" && s.Got != s.Proposed {
		fmt.Fprintf(&h, " (reads back %s)", s.Got)
	}
	head := wrap(look.paint(decisionStyle[s.Decision], fmt.Sprintf("%-9s", s.Decision))+" ", indent, h.String(), look.Width)
	if s.Decision == apply.DecideChange && s.Command != "" {
		// Whole, to be copied: on its own line when the terminal is too narrow for both.
		cmd := "`" + s.Command + "`"
		last := head[strings.LastIndexByte(head, '\n')+1:]
		if look.Width > 0 && visibleLen(last)+1+visibleLen(cmd) > look.Width {
			head += "\n" + indent + cmd
		} else {
			head += " " + cmd
		}
	}
	var why strings.Builder
	if s.Why != "" {
		fmt.Fprintf(&why, "%s", s.Why)
	}
	for _, extra := range []string{s.Note, s.Error} {
		if extra != "" {
			fmt.Fprintf(&why, "; %s", extra)
		}
	}
	if why.Len() == 0 {
		return head
	}
	return wrap(head+": ", indent, why.String(), look.Width)
}

var decisionStyle = map[apply.Decision]string{apply.DecideChange: styleGreen, apply.DecideUnchanged: styleDim,
	apply.DecideAdvice: styleAmber, apply.DecideFailed: styleLoss, apply.DecideGone: styleDim}

// scopeOf says where a knob's change takes effect: "[global]" (every namespace of the host),
// "[netns web]", "[device, netns web]"; a per-namespace knob of nettune's own namespace is
// "[this netns]"; the namespace's owner follows its name: "[netns web, pod default/web-0]".
func scopeOf(scope model.Scope, netns, owner string) string {
	in := ""
	if netns != "" {
		in = "netns " + netns
		if owner != "" {
			in += ", " + owner
		}
	}
	switch scope {
	case model.ScopeGlobal:
		return "[global]"
	case model.ScopeDevice:
		if in != "" {
			return "[device, " + in + "]"
		}
		return "[device]"
	case model.ScopeNetns:
		if in == "" {
			in = "this netns"
		}
		return "[" + in + "]"
	}
	if in != "" {
		return "[" + in + "]"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Status writes what nettune changed and has not undone: one line per knob.
func Status(w io.Writer, f Format, st *apply.Status) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, st)
	case FormatTable:
		return StatusTable(w, st, Look{})
	}
	return errFormat("status", f)
}

// StatusTable is status's table drawn for a terminal (width, colour) or for a pipe: the
// verdict first (how many changes are in effect, how many drifted or cannot be read), then
// one line per knob, newest first.
func StatusTable(w io.Writer, st *apply.Status, look Look) error {
	_, err := io.WriteString(w, statusText(st, look))
	return err
}

func statusText(s *apply.Status, look Look) string {
	if len(s.Knobs) == 0 {
		return look.paint(styleGreen, "nettune has no changes in effect") + "\n"
	}
	drift, unreadable := 0, 0
	for _, k := range s.Knobs {
		switch {
		case k.Error != "":
			unreadable++
		case k.Drift:
			drift++
		}
	}
	verdict := "nettune has " + plural(uint64(len(s.Knobs)), "change", "changes") + " in effect"
	var trouble []string
	if drift > 0 {
		trouble = append(trouble, look.paint(styleAmber, fmt.Sprintf("%d changed by someone else since", drift)))
	}
	if unreadable > 0 {
		trouble = append(trouble, look.paint(styleLoss, fmt.Sprintf("%d cannot be read", unreadable)))
	}
	if len(trouble) > 0 {
		verdict += ": " + strings.Join(trouble, ", ")
	}
	var b strings.Builder
	b.WriteString(wrap("", "    ", verdict, look.Width) + "\n")
	for _, k := range s.Knobs {
		b.WriteString(statusLine(k, look))
		b.WriteByte('\n')
	}
	return b.String()
}

// statusLine: "sysctl:net.core.somaxconn [netns web, pod default/web-0] 4096 → 8192, now
// 8192: <when> by <apply>: <reason>; <trouble>", the reasons wrapped under the knob.
func statusLine(k apply.KnobStatus, look Look) string {
	var head strings.Builder
	head.WriteString(k.Knob)
	if k.Netns != "" {
		head.WriteString(" [netns " + k.Netns)
		if o := k.NetnsOwner.String(); o != "" {
			head.WriteString(", " + o)
		}
		head.WriteString("]")
	}
	fmt.Fprintf(&head, " %s → %s, now %s", k.Original, k.Written, orDash(k.Current))
	if k.Persisted != "" {
		fmt.Fprintf(&head, ", at boot %s", k.Persisted)
	}
	var why strings.Builder
	fmt.Fprintf(&why, "%s by %s: %s", k.Time.UTC().Format(time.RFC3339), k.Apply, k.Reason)
	switch {
	case k.Error != "":
		why.WriteString("; " + look.paint(styleLoss, "cannot read: "+k.Error))
	case k.Drift:
		why.WriteString("; " + look.paint(styleAmber, "DRIFT: changed by someone else since"))
	}
	if k.PersistNote != "" {
		fmt.Fprintf(&why, "; persisted: %s", k.PersistNote)
	}
	if k.State != apply.StateDone {
		fmt.Fprintf(&why, "; state %s", k.State)
	}
	return wrap("", "    ", head.String()+"; "+why.String(), look.Width)
}

// Auto writes one apply --auto run; the table is one log line per action, each prefixed
// with the run's time (serve --remediate logs the same lines).
func Auto(w io.Writer, f Format, r *apply.AutoResult) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, r)
	case FormatTable:
		return AutoTable(w, r, Look{})
	}
	return errFormat("apply --auto", f)
}

// AutoTable is apply --auto's lines drawn for a terminal (colour by what was done) or a pipe
// or log (plain). The first line is the verdict: what the run found and did.
func AutoTable(w io.Writer, r *apply.AutoResult, look Look) error {
	_, err := io.WriteString(w, autoText(r, look))
	return err
}

var autoStyle = map[string]string{"change": styleGreen, "kept": styleGreen, "revert": styleAmber,
	"wait": styleDim, "advice": styleAmber, "unchanged": styleDim, "skip": styleDim, "failed": styleLoss}

func autoText(r *apply.AutoResult, look Look) string {
	ts := r.Time.UTC().Format(time.RFC3339)
	if r.Baseline != "" {
		return fmt.Sprintf("%s auto: %s\n", ts, r.Baseline)
	}
	verdict := fmt.Sprintf("%s auto: %s, %s", ts, plural(uint64(r.Findings), "finding", "findings"), autoSummary(r, look))
	if r.ID != "" {
		verdict += ", journal id " + r.ID
	}
	var b strings.Builder
	b.WriteString(wrap("", "    ", verdict, look.Width) + "\n")
	for _, a := range r.Actions {
		var line strings.Builder
		fmt.Fprintf(&line, "%s auto: %s %s", ts, look.paint(autoStyle[a.Kind], a.Kind), a.Knob)
		if a.Netns != "" {
			fmt.Fprintf(&line, " [netns %s", a.Netns)
			if o := a.NetnsOwner.String(); o != "" {
				line.WriteString(", " + o)
			}
			line.WriteString("]")
		}
		if a.From != "" || a.To != "" {
			fmt.Fprintf(&line, " %s → %s", orDash(a.From), orDash(a.To))
		}
		b.WriteString(wrap("", "    ", line.String()+": "+a.Why, look.Width))
		b.WriteByte('\n')
	}
	if p := persisted(r.Persist); p != "" {
		fmt.Fprintf(&b, "%s auto: %s", ts, p)
	}
	return b.String()
}

// autoSummary is what the run did by kind, in the order that matters: "changed 1, reverted 1,
// kept 1", or "nothing to do".
func autoSummary(r *apply.AutoResult, look Look) string {
	n := map[string]int{}
	for _, a := range r.Actions {
		n[a.Kind]++
	}
	var parts []string
	for _, k := range []struct{ kind, name string }{{"failed", "failed"}, {"change", "changed"}, {"revert", "reverted"},
		{"kept", "kept"}, {"wait", "waiting"}, {"advice", "advice only"}, {"unchanged", "already set"}, {"skip", "skipped"}} {
		if n[k.kind] > 0 {
			parts = append(parts, look.paint(autoStyle[k.kind], fmt.Sprintf("%s %d", k.name, n[k.kind])))
		}
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}
