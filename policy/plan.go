package policy

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

// planner turns the knobs proposed for reconciled findings into the plan: the knob table
// supplies scope, netns, disruptive, the command and the place in the plan; one action per
// knob, answering every finding that proposed it; actions only for capacity loss at ≥
// ActRatio and knobs the config allows.
type planner struct {
	in      *input
	actions map[string]*planned
	advice  []string
	missing []string
}

// planned is an action with its place in the order: the knob's phase and rank in the knob
// table (docs/rules.md §4: the lowest stage first, because loss there hides demand higher up).
type planned struct {
	Action
	phase knob.Phase
	rank  int
}

func newPlanner(in *input) *planner {
	return &planner{in: in, actions: map[string]*planned{}}
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

// propose lists each proposal's knob on finding f and, when f is actionable, enters it in the
// plan. Findings come in report order, so an action's details come from the worst finding
// that proposes its knob.
func (p *planner) propose(f *Finding, ps []proposal) {
	for _, x := range ps {
		id, a, site := x.id, x.action, x.site
		if x.sysctl != nil {
			id, a = p.sysctl(*x.sysctl)
		}
		p.add(f, id, a, site)
	}
}

func (p *planner) add(f *Finding, id knob.ID, a Action, site knob.Site) {
	r := knobRow(id)
	a.Knob, a.Scope, a.Disruptive, a.Netns = id.String(), r.Scope, r.Disruptive, p.in.ns
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
	if !p.in.cfg.KnobAllowed(a.Knob) {
		p.advice = appendOnce(p.advice, a.Knob+" would address "+f.ID+" but is not allowed by the config")
		return
	}
	if q, ok := p.actions[a.Knob]; ok {
		if !contains(q.Findings, f.ID) {
			q.Findings = append(q.Findings, f.ID)
		}
		return
	}
	a.Findings = []string{f.ID}
	if a.AtCap {
		p.advice = appendOnce(p.advice, a.Knob+" is already at its cap "+a.Current+": "+f.ID+" needs another remedy")
	}
	p.actions[a.Knob] = &planned{Action: a, phase: r.Phase, rank: r.Rank}
}

func (p *planner) plan() []Action {
	ps := make([]*planned, 0, len(p.actions))
	for _, a := range p.actions {
		ps = append(ps, a)
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
	for _, a := range ps {
		out = append(out, a.Action)
	}
	return out
}

// limit is the cap of knob id under the config.
func (in *input) limit(id knob.ID, b knob.Bound) int64 {
	l, _ := in.cfg.Caps.Limit(knobRow(id).Cap, b)
	return l
}

// step is one increase: cur × Step rounded up, at least cur+1, never above capv. atCap when
// cur is already at or above the cap (then next == cur: nettune never lowers a value).
func (in *input) step(cur, capv int64) (next int64, atCap bool) {
	if cur >= capv {
		return cur, true
	}
	n := int64(math.Ceil(float64(cur) * in.cfg.Step))
	if n <= cur {
		n = cur + 1
	}
	return min(n, capv), false
}

// sysctl resolves one sysctl step from the sysctl's current value.
func (p *planner) sysctl(s sysctlStep) (knob.ID, Action) {
	in := p.in
	id := knob.SysctlID(s.key)
	r := knobRow(id)
	a := Action{Risk: s.risk, Why: s.why}
	if r.Settle != "" {
		if v, ok := in.sysctlValue(r.Settle); ok {
			a.SettleSeconds, _ = strconv.Atoi(v) // unreadable: judged on the next run as before
		}
	}
	raw, ok := in.sysctlValue(s.key)
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
		a.Why += " The current value could not be read" + in.unreadableWhy(s.key) + ", so no value is proposed."
		p.missing = appendOnce(p.missing, "sysctl "+s.key+in.unreadableWhy(s.key))
		return id, a
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
	capv := in.limit(id, knob.Bound{})
	next, atCap := in.step(cur, capv)
	if !atCap && s.atLeast > next {
		next = min(s.atLeast, capv)
	}
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
	return id, a
}
