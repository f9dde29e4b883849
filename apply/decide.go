package apply

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// decide turns planned actions into steps: ownership, caps, one step per knob and run,
// never lower. It reads every knob's current value and writes nothing. reviewed: the plan was
// reviewed (apply --plan), so each knob must still hold the value the plan was made on.
// targets, when not nil, are the namespaces of a node run's actions (nodePlan).
func (a *Applier) decide(plan []policy.Action, h *history, own *owners, reviewed bool, targets []*target) []Step {
	steps := make([]Step, 0, len(plan))
	seen := map[string]bool{}
	netns := a.o.Netns
	if reviewed && netns == "" && targets == nil { // a node's plan (targets) asked for the whole host
		netns = planNetns(plan)
	}
	for i, act := range plan {
		st := Step{Action: act, reviewed: reviewed, seen: act.Current}
		if targets != nil && targets[i] != nil {
			st.t, st.NetnsIno, st.NetnsOwner = targets[i], targets[i].ino, targets[i].owner
		}
		st.Findings = append([]string(nil), act.Findings...)
		a.decideOne(&st, h, own, seen, netns)
		steps = append(steps, st)
	}
	return steps
}

// planNetns is the namespace a reviewed plan was made for: that of its namespaced actions
// (global ones carry none), "" for nettune's own.
func planNetns(plan []policy.Action) string {
	for _, act := range plan {
		if act.Netns != "" {
			return act.Netns
		}
	}
	return ""
}

// decideOne decides one step; netns is the namespace the plan was made for (Options.Netns).
func (a *Applier) decideOne(st *Step, h *history, own *owners, seen map[string]bool, netns string) {
	advice := func(format string, args ...any) {
		st.Decision, st.Note = DecideAdvice, fmt.Sprintf(format, args...)
	}
	// The knob table decides what this is (scope, disruptive, cap, command); policy took its
	// facts from the same table.
	k, err := st.parse(a.o.Env)
	if err != nil {
		advice("%v", err)
		return
	}
	row := k.Row()
	st.k, st.Netns, st.Scope = k, k.Netns(), row.Scope
	if st.Netns == "" { // a global knob: nettune's own namespace, whoever proposed it
		st.t, st.NetnsIno, st.NetnsOwner = nil, 0, nil
	}
	key := knobKey(k.Netns(), k.ID())
	switch {
	case seen[key]:
		advice("already changed once in this run (one step per knob per run)")
		return
	case !a.o.Config.KnobAllowed(k.ID()):
		advice("not allowed by the config's knobs list")
		return
	case st.AtCap:
		advice("already at the configured cap")
		return
	case row.Disruptive && !a.o.AllowDisruptive:
		advice("disruptive (may interrupt traffic): needs the allow-disruptive flag")
		return
	case row.Scope == model.ScopeGlobal && netns != "" && !a.o.AllowGlobal:
		advice("global: it changes every network namespace of the host, not only %s; pass --allow-global to apply it", netns)
		return
	}
	seen[key] = true
	if a.o.Persist {
		if why := a.decidePersist(st, k, own); why != "" {
			advice("%s", why)
			return
		}
	}
	if row.Kind == knob.Sysctl {
		if f, pinned := own.pinned[row.Key]; pinned && (row.Scope == model.ScopeGlobal || k.Netns() == "") {
			advice("pinned by the administrator in %s: set it there", f)
			return
		}
	}
	if row.Kind == knob.IRQAffinity && own.irqbalance {
		advice("irqbalance is running and would override it: stop irqbalance or ban this IRQ first")
		return
	}
	cur, err := k.Read()
	if err != nil {
		advice("cannot read: %v", err)
		return
	}
	st.Current = cur
	ino := st.NetnsIno
	if st.t == nil && k.Netns() != "" {
		ino, _ = netnsIno(k.Netns()) // unknown (0) when it cannot be told: every entry counts
	}
	if drift, ours := h.drifted(k, key, ino, cur); drift {
		advice("changed by someone else since nettune set it to %s: left alone", ours)
		return
	}
	if st.reviewed {
		if why := checkReviewed(st, k, cur); why != "" {
			advice("%s", why)
			return
		}
	}
	proposed, note, err := a.bound(k, cur, strings.Join(strings.Fields(st.Proposed), " "))
	if err != nil {
		advice("%v", err)
		return
	}
	st.Proposed, st.Note = proposed, note
	st.Command = k.Command(proposed)
	switch k.Compare(proposed, cur) {
	case live.Equal:
		st.Decision = DecideUnchanged
	case live.Less:
		advice("would lower it below the %s nettune found", cur)
	case live.Unordered:
		if row.Ordered() {
			advice("would lower part of %q", cur)
			return
		}
		st.Decision = DecideChange // a different CPU set: neither more nor less
	default:
		st.Decision = DecideChange
	}
}

// bound re-checks the config cap and the one-step-per-run rule for numeric values, field by
// field, and clamps the proposal to them.
func (a *Applier) bound(k live.Knob, cur, proposed string) (string, string, error) {
	if !k.Row().Ordered() || !numeric(cur) || !numeric(proposed) {
		return proposed, "", nil
	}
	limit, capped, err := k.Cap(a.o.Config.Caps)
	if err != nil {
		return "", "", fmt.Errorf("cap: %w", err)
	}
	cf, pf := strings.Fields(cur), strings.Fields(proposed)
	if len(cf) != len(pf) {
		return "", "", fmt.Errorf("proposed %q does not match %q", proposed, cur)
	}
	var notes []string
	for i := range pf {
		c, _ := strconv.ParseInt(cf[i], 10, 64)
		p, _ := strconv.ParseInt(pf[i], 10, 64)
		if p <= c {
			continue
		}
		// A zero value has no step to take: only the cap bounds it.
		if step := int64(math.Ceil(float64(c) * a.o.Config.Step)); c > 0 && p > step {
			p = step
			notes = append(notes, fmt.Sprintf("one step per run (×%g)", a.o.Config.Step))
		}
		if capped && p > limit {
			p = max(limit, c)
			notes = append(notes, fmt.Sprintf("config cap %d", limit))
		}
		pf[i] = strconv.FormatInt(p, 10)
	}
	out := strings.Join(pf, " ")
	if len(notes) > 0 && out != proposed {
		return out, "clamped from " + proposed + " by " + strings.Join(notes, " and "), nil
	}
	return out, "", nil
}

func numeric(v string) bool {
	f := strings.Fields(v)
	for _, x := range f {
		if _, err := strconv.ParseInt(x, 10, 64); err != nil {
			return false
		}
	}
	return len(f) > 0
}

// parse opens the step's knob: through the kept handle of its namespace when it has one.
func (st *Step) parse(env live.Env) (live.Knob, error) {
	if st.t != nil {
		return live.ParseVia(st.Knob, st.Netns, st.t.h.Path(), env)
	}
	return live.Parse(st.Knob, st.Netns, env)
}
