package policy

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Remediation phases, docs/rules.md §4: fix the lowest stage first, because loss there hides
// demand higher up.
const (
	phaseDistribution = iota + 1
	phaseBudget
	phaseRing
	phaseBacklog
	phaseL3
	phaseSocket
	phaseTX
)

// planned is an action with its place in the order.
type planned struct {
	Action
	phase, rank int
}

// propose records that knob a addresses finding f. The knob is listed on the finding; the
// action enters the plan only for capacity loss at ≥ ActRatio with the knob allowed by config.
// One action per knob: a second finding is merged into the first action.
func (e *engine) propose(f *Finding, a Action, phase, rank int) {
	if f == nil {
		return
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
	e.actions[a.Knob] = &planned{Action: a, phase: phase, rank: rank}
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

// sysctlStep describes one sysctl proposal.
type sysctlStep struct {
	key         string
	capv        int64
	field       int  // for multi-value sysctls (tcp_rmem): the field that is raised; -1 = all
	multi       bool // value has several fields
	phase, rank int
	// mem estimates the memory the change can pin, from current and proposed (the raised field).
	mem       func(cur, next int64) int64
	risk, why string
	settle    string // sysctl holding the seconds the change takes to show (Action.SettleSeconds)
}

// proposeSysctl steps a sysctl once for finding f.
func (e *engine) proposeSysctl(f *Finding, s sysctlStep) {
	global := globalSysctl(s.key)
	a := Action{Knob: "sysctl:" + s.key, Risk: s.risk, Why: s.why, Scope: ScopeNetns, Netns: e.ns}
	if s.settle != "" {
		if v, ok := e.sysctlValue(s.settle); ok {
			a.SettleSeconds, _ = strconv.Atoi(v) // unreadable: judged on the next run as before
		}
	}
	if global {
		a.Scope, a.Netns = ScopeGlobal, ""
	}
	raw, ok := e.sysctlValue(s.key)
	fields := strings.Fields(raw)
	idx := 0
	if s.multi {
		idx = s.field
		if idx < 0 {
			idx = len(fields) - 1
		}
	}
	var vals []int64
	for _, x := range fields {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			ok = false
			break
		}
		vals = append(vals, v)
	}
	if !ok || idx >= len(vals) || (!s.multi && len(vals) != 1) {
		a.Current = "unknown"
		a.Why += " The current value could not be read" + e.unreadableWhy(s.key) + ", so no value is proposed."
		e.r.Missing = appendOnce(e.r.Missing, "sysctl "+s.key+e.unreadableWhy(s.key))
		e.propose(f, a, s.phase, s.rank)
		return
	}
	a.Current = strings.Join(fields, " ")
	cur := vals[idx]
	next, atCap := e.step(cur, s.capv)
	a.AtCap = atCap
	if s.multi && s.field < 0 {
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
	if !atCap {
		a.Command = inNetns(a.Netns, "sysctl -w "+s.key+"="+shellQuote(a.Proposed))
		if s.mem != nil {
			a.MemoryBytes = s.mem(cur, next)
		}
	} else {
		a.Proposed = a.Current
	}
	e.propose(f, a, s.phase, s.rank)
}

func (e *engine) unreadableWhy(key string) string {
	if globalSysctl(key) && e.ns != "" {
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
	if globalSysctl(key) {
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

// globalSysctl lists the sysctls that belong to the host, not to a netns (docs/rules.md §5).
func globalSysctl(key string) bool {
	switch key {
	case "net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.netdev_budget_usecs",
		"net.core.dev_weight", "net.core.rps_sock_flow_entries", "net.core.flow_limit_cpu_bitmap",
		"net.core.flow_limit_table_len", "net.core.default_qdisc",
		"net.ipv4.tcp_mem", "net.ipv4.udp_mem",
		"net.core.rmem_default", "net.core.rmem_max", "net.core.wmem_default", "net.core.wmem_max",
		ctMax, ctBuckets:
		return true
	}
	return false
}

// inNetns prefixes a command so it runs in the named netns ("" = where nettune runs; a path
// is entered with nsenter, a name with ip netns exec).
func inNetns(ns, cmd string) string {
	switch {
	case ns == "":
		return cmd
	case strings.ContainsRune(ns, '/'):
		return "nsenter --net=" + ns + " " + cmd
	}
	return "ip netns exec " + ns + " " + cmd
}

// writeFileCmd is "echo v > path", wrapped in sh -c when it must run in another netns.
func writeFileCmd(ns, value, path string) string {
	cmd := "echo " + value + " > " + path
	if ns == "" {
		return cmd
	}
	return inNetns(ns, "sh -c '"+cmd+"'")
}

func shellQuote(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
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
