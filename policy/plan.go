package policy

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

// planned is an action with its place in the order: the knob's phase and rank in the knob
// table (docs/rules.md, plan order: the lowest stage first, because loss there hides demand
// higher up).
type planned struct {
	Action
	phase knob.Phase
	rank  int
}

// knobRow is knob id's row of the knob table. A rule that proposes a knob the table lacks is a
// programming error, caught by the rule's tests.
func knobRow(id knob.ID) knob.Row {
	r, ok := knob.Lookup(id)
	if !ok {
		panic("policy: no knob table row for " + id.String())
	}
	return r
}

// limit is the cap of knob id under the config.
func (e *engine) limit(id knob.ID, b knob.Bound) int64 {
	l, _ := e.cfg.Caps.Limit(knobRow(id).Cap, b)
	return l
}

// propose records that knob id addresses finding f. a holds what the rule decided (current,
// proposed, at cap, memory, risk, why); the knob table supplies the rest: scope, netns,
// disruptive, the command and the place in the plan. The knob is listed on the finding; the
// action enters the plan only for capacity loss at ≥ ActRatio with the knob allowed by config.
// One action per knob: a second finding is merged into the first action.
func (e *engine) propose(f *Finding, id knob.ID, a Action) {
	e.proposeAt(f, id, a, knob.Site{})
}

// proposeAt is propose with what the command needs besides the namespace (a qdisc's kind and
// parent).
func (e *engine) proposeAt(f *Finding, id knob.ID, a Action, site knob.Site) {
	if f == nil {
		return
	}
	r := knobRow(id)
	a.Knob, a.Scope, a.Disruptive, a.Netns = id.String(), r.Scope, r.Disruptive, e.ns
	if r.Scope == model.ScopeGlobal {
		a.Netns = ""
	}
	if !a.AtCap && a.Proposed != "" {
		site.Netns = a.Netns
		a.Command = knob.Command(id, a.Proposed, site)
	}
	if !contains(f.Knobs, a.Knob) {
		f.Knobs = append(f.Knobs, a.Knob)
	}
	if !actionable(f) {
		return
	}
	if !e.cfg.KnobAllowed(a.Knob) {
		e.addAdvice(a.Knob + " would address " + f.ID + " but is not allowed by the config")
		return
	}
	if p, ok := e.actions[a.Knob]; ok {
		if !contains(p.Findings, f.ID) {
			p.Findings = append(p.Findings, f.ID)
		}
		return
	}
	a.Findings = []string{f.ID}
	if a.AtCap {
		e.addAdvice(a.Knob + " is already at its cap " + a.Current + ": " + f.ID + " needs another remedy")
	}
	e.actions[a.Knob] = &planned{Action: a, phase: r.Phase, rank: r.Rank}
}

func (e *engine) plan() []Action {
	ps := make([]*planned, 0, len(e.actions))
	for _, p := range e.actions {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.phase != b.phase {
			return a.phase < b.phase
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.Knob < b.Knob
	})
	out := make([]Action, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Action)
	}
	return out
}

// step is one increase: cur × Step rounded up, at least cur+1, never above capv. atCap when
// cur is already at or above the cap (then next == cur: nettune never lowers a value).
func (e *engine) step(cur, capv int64) (next int64, atCap bool) {
	if cur >= capv {
		return cur, true
	}
	n := int64(math.Ceil(float64(cur) * e.cfg.Step))
	if n <= cur {
		n = cur + 1
	}
	return min(n, capv), false
}

// sysctlStep is one sysctl proposal: what the rule knows (the memory a change can pin, the
// risk, why). The knob table knows the rest: scope, cap, which field is raised, plan phase,
// settle time.
type sysctlStep struct {
	key string
	// mem estimates the memory the change can pin, from current and proposed (the raised field).
	mem       func(cur, next int64) int64
	risk, why string
}

// proposeSysctl steps a sysctl once for finding f.
func (e *engine) proposeSysctl(f *Finding, s sysctlStep) {
	id := knob.SysctlID(s.key)
	r := knobRow(id)
	a := Action{Risk: s.risk, Why: s.why}
	if r.Settle != "" {
		if v, ok := e.sysctlValue(r.Settle); ok {
			a.SettleSeconds, _ = strconv.Atoi(v) // unreadable: judged on the next run as before
		}
	}
	raw, ok := e.sysctlValue(s.key)
	fields := strings.Fields(raw)
	var vals []int64
	for _, x := range fields {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			ok = false
			break
		}
		vals = append(vals, v)
	}
	if !ok || len(vals) != r.Fields {
		a.Current = "unknown"
		a.Why += " The current value could not be read" + e.unreadableWhy(s.key) + ", so no value is proposed."
		e.r.Missing = appendOnce(e.r.Missing, "sysctl "+s.key+e.unreadableWhy(s.key))
		e.propose(f, id, a)
		return
	}
	idx := 0
	if r.Fields > 1 {
		idx = r.Raise
		if idx == knob.RaiseAll {
			idx = len(vals) - 1
		}
	}
	a.Current = strings.Join(fields, " ")
	cur := vals[idx]
	next, atCap := e.step(cur, e.limit(id, knob.Bound{}))
	a.AtCap = atCap
	if r.Fields > 1 && r.Raise == knob.RaiseAll {
		// Pool sysctls (udp_mem, tcp_mem): scale every threshold with the hard limit.
		for i := range vals {
			vals[i] = min(max(vals[i], int64(math.Ceil(float64(vals[i])*float64(next)/float64(max(cur, 1))))), next)
		}
	}
	vals[idx] = next
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strconv.FormatInt(v, 10)
	}
	a.Proposed = strings.Join(out, " ")
	if atCap {
		a.Proposed = a.Current
	} else if s.mem != nil {
		a.MemoryBytes = s.mem(cur, next)
	}
	e.propose(f, id, a)
}

func (e *engine) unreadableWhy(key string) string {
	if isGlobal(key) && e.ns != "" {
		return " (global sysctl, not visible from netns " + e.ns + ": run in the host netns or pass host sysctls)"
	}
	return ""
}

// sysctlValue reads the current value: the analysed netns first, then host sysctls for
// global keys.
func (e *engine) sysctlValue(key string) (string, bool) {
	if v, ok := e.cur.Sysctls[key]; ok {
		return v, true
	}
	if isGlobal(key) {
		v, ok := e.host[key]
		return v, ok
	}
	return "", false
}

func (e *engine) sysctlInt(key string) (int64, bool) {
	v, ok := e.sysctlValue(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil
}

// isGlobal reports whether the knob table has key as a host-wide sysctl: a child netns does
// not show it, or shows it read-only.
func isGlobal(key string) bool {
	r, ok := knob.Lookup(knob.SysctlID(key))
	return ok && r.Scope == model.ScopeGlobal
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func appendOnce(xs []string, x string) []string {
	if contains(xs, x) {
		return xs
	}
	return append(xs, x)
}
