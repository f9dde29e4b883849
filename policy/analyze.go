package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Settings is analysis input that is not in the Delta.
type Settings struct {
	// HostSysctls are sysctls read in the host (initial) network namespace. A child netns
	// does not show global sysctls such as net.core.netdev_max_backlog; when the Delta comes
	// from one, these supply the current value of global knobs. Nil: such knobs get Current
	// "unknown" and no proposed value.
	HostSysctls map[string]string
	// SkipFunnel leaves Report.Funnel empty (not nil): callers that read only the findings and
	// the plan, such as apply --auto, save building the per-link accounts.
	SkipFunnel bool
}

// Analyze turns one interval into a report: funnel, findings (most severe first) and the plan
// (docs/rules.md §4 order). cfg must be valid (Config.Validate). It is AnalyzeWith without host
// sysctls.
func Analyze(d *model.Delta, cfg Config) *Report {
	return AnalyzeWith(d, Settings{}, cfg)
}

// AnalyzeWith is Analyze with settings from outside the Delta.
func AnalyzeWith(d *model.Delta, s Settings, cfg Config) *Report {
	if d.InPath != nil && d.InPath.Netns != 0 {
		dc := *d
		dc.InPath = ownDrops(d.InPath)
		d = &dc
	}
	e := newEngine(d, s, cfg)
	e.r.Unmeasured = unmeasured(d)
	for _, rule := range rules {
		rule(e)
	}
	e.finish()
	if !s.SkipFunnel {
		e.r.Funnel = e.funnel()
	}
	return e.r
}

// unmeasured lists the core counters either sample lacks (their reader failed).
func unmeasured(d *model.Delta) []string {
	var out []string
	lacks := func(has func(*model.Sample) bool) bool {
		return d.Prev == nil || d.Cur == nil || !has(d.Prev) || !has(d.Cur)
	}
	if lacks(func(s *model.Sample) bool { return len(s.SNMP) > 0 }) {
		out = append(out, "protocol counters (/proc/net/snmp, netstat): UDP, TCP, IP and ICMP drops")
	}
	if lacks(func(s *model.Sample) bool { return len(s.Softnet) > 0 }) {
		out = append(out, "per-CPU backlog counters (/proc/net/softnet_stat): backlog and budget drops")
	}
	return out
}

// ownDrops keeps the drops of the watched namespace: the kfree_skb tracer sees every
// namespace, and another namespace's drops are not this report's loss.
func ownDrops(ip *model.InPath) *model.InPath {
	c := *ip
	c.Drops = make([]model.DropCount, 0, len(ip.Drops))
	for _, x := range ip.Drops {
		if x.Netns == ip.Netns {
			c.Drops = append(c.Drops, x)
		}
	}
	return &c
}

// rules run in this order: later rules read findings of earlier ones (distribution and budget
// look at ring/backlog loss; in-path attaches drop reasons to counter findings).
var rules = []func(*engine){
	nicRules, ringRules, backlogRules, qdiscRules, conntrackRules, l3Rules, udpRules, tcpRules, benignRules,
	inPathRules, softirqRules, distributionRules,
}

// engine holds one analysis; the rule files add findings and proposals to it.
type engine struct {
	d    *model.Delta
	cur  *model.Sample
	cfg  Config
	host map[string]string
	ns   string
	r    *Report

	byID    map[string]*Finding
	order   []string // finding IDs in creation order, for stable output
	actions map[string]*planned
	advice  map[string]bool
	ifname  map[int]string // see linkName
	// attributed and counted sum the drops in-path reasons confirmed and the counter drops
	// of the findings they confirmed: their ratio is Report.Attribution.
	attributed, counted float64
	maxMTU              int
	points              map[linkPoint]map[int]uint64 // see pointsByQueue
}

func newEngine(d *model.Delta, s Settings, cfg Config) *engine {
	if d == nil {
		d = &model.Delta{}
	}
	cur := d.Cur
	if cur == nil {
		cur = &model.Sample{}
	}
	e := &engine{
		d: d, cur: cur, cfg: cfg, host: s.HostSysctls, ns: cur.Netns,
		r:       &Report{IntervalSeconds: d.Interval.Seconds(), Netns: cur.Netns, Plan: []Action{}, Funnel: []Funnel{}},
		byID:    map[string]*Finding{},
		actions: map[string]*planned{},
		advice:  map[string]bool{},
	}
	for i := range d.Links {
		e.maxMTU = max(e.maxMTU, d.Links[i].MTU)
	}
	e.r.Missing = append(e.r.Missing, cur.Errors...)
	for _, name := range d.Resets {
		e.r.Missing = append(e.r.Missing, "counter reset during the interval (lower bound used): "+name)
	}
	return e
}

// linkName is the name of the link with this ifindex ("" if none), from an index built on
// first use: only in-path drops name links by ifindex.
func (e *engine) linkName(ifindex int) string {
	if e.ifname == nil {
		e.ifname = make(map[int]string, len(e.d.Links))
		for i := range e.d.Links {
			e.ifname[e.d.Links[i].Index] = e.d.Links[i].Name
		}
	}
	return e.ifname[ifindex]
}

func (e *engine) rate(n uint64) float64 { return e.d.Rate(n) }

// scopeName is the netns part of a finding ID.
func (e *engine) scopeName(netns string, hostWide bool) string {
	if hostWide || netns == "" {
		return "host"
	}
	return strings.ReplaceAll(strings.Trim(netns, "/"), "/", "_")
}

// obs is one rule's observation of a stage; add grades it into a finding. Rules return before
// building an obs whose drops are zero: apply --auto analyses hosts with a thousand quiet links,
// and summaries and evidence for them were most of its cost.
type obs struct {
	stage    stage.Stage
	class    stage.Class // "" = the stage's class
	iface    string
	hostWide bool // softnet: host-wide even when analysing a child netns
	queue    *int
	cpu      *int
	suffix   string // extra ID part (qdisc handle)

	drops   uint64 // packets lost (or pressure events when pressure is set)
	through uint64 // packets that passed the stage; ratio = drops ÷ (through + drops)
	of      string // name of the throughput counter
	// noRatio: the stage's throughput is not measured; graded by rate alone.
	noRatio  bool
	pressure bool // events that are not loss by themselves: info at most

	summary  string
	evidence []Evidence
}

func (e *engine) id(o obs) string {
	var b strings.Builder
	b.WriteString(string(o.stage))
	b.WriteByte('/')
	b.WriteString(e.scopeName(e.ns, o.hostWide))
	if o.iface != "" {
		b.WriteString("/" + o.iface)
	}
	if o.suffix != "" {
		b.WriteString("/" + o.suffix)
	}
	if o.queue != nil {
		fmt.Fprintf(&b, "/q%d", *o.queue)
	}
	if o.cpu != nil {
		fmt.Fprintf(&b, "/cpu%d", *o.cpu)
	}
	return b.String()
}

func ratioOf(drops, through uint64) float64 {
	if drops+through == 0 {
		return 0
	}
	return float64(drops) / float64(drops+through)
}

// grade applies the thresholds (docs/rules.md §3.3): below MinRate or MinRatio → no finding;
// pressure counters are info at most.
func (e *engine) grade(rate, ratio float64, noRatio, pressure bool) (Severity, bool) {
	t := e.cfg.Thresholds
	if rate <= 0 || rate < t.MinRate || (!noRatio && ratio < t.MinRatio) {
		return 0, false
	}
	switch {
	case pressure:
		return SeverityInfo, true
	case noRatio:
		return SeverityWarning, true // share unknown: loss at ≥ MinRate is worth a look
	case ratio >= t.CriticalRatio:
		return SeverityCritical, true
	case ratio >= t.ActRatio:
		return SeverityWarning, true
	}
	return SeverityInfo, true
}

// add grades an observation and records it as a finding; nil when it is below the thresholds.
func (e *engine) add(o obs) *Finding {
	if o.drops == 0 {
		return nil
	}
	rate := e.rate(o.drops)
	ratio := ratioOf(o.drops, o.through)
	if o.noRatio {
		ratio = 0
	}
	sev, ok := e.grade(rate, ratio, o.noRatio, o.pressure)
	if !ok {
		return nil
	}
	class := o.class
	if class == "" {
		class = o.stage.Class()
	}
	f := &Finding{
		ID: e.id(o), Stage: o.stage, Class: class, Severity: sev,
		Interface: o.iface, Queue: o.queue, CPU: o.cpu,
		Summary: o.summary, Ratio: ratio, Evidence: o.evidence,
	}
	if !o.hostWide {
		f.Netns = e.ns
	}
	if !o.pressure {
		f.DropRate = rate
	}
	if f.Evidence == nil {
		f.Evidence = []Evidence{}
	}
	if old, dup := e.byID[f.ID]; dup {
		// Two sources for the same stage and place: keep the worse grade, all evidence.
		old.Evidence = append(old.Evidence, f.Evidence...)
		if f.Severity > old.Severity {
			old.Severity, old.Summary = f.Severity, f.Summary
		}
		if f.DropRate > old.DropRate {
			old.DropRate, old.Ratio = f.DropRate, f.Ratio
		}
		return old
	}
	e.byID[f.ID] = f
	e.order = append(e.order, f.ID)
	return f
}

// ev builds one evidence row; of/through give the ratio.
func (e *engine) ev(counter string, delta uint64, of string, through uint64) Evidence {
	x := Evidence{Counter: counter, Delta: delta, Rate: e.rate(delta)}
	if of != "" {
		x.Of = of
		x.Ratio = ratioOf(delta, through)
	}
	return x
}

// findings returns the recorded findings that satisfy keep, in creation order.
func (e *engine) findings(keep func(*Finding) bool) []*Finding {
	var out []*Finding
	for _, id := range e.order {
		if f := e.byID[id]; keep(f) {
			out = append(out, f)
		}
	}
	return out
}

// actionable says whether a finding earns plan actions: capacity loss at ≥ ActRatio.
func actionable(f *Finding) bool {
	return f != nil && f.Class == stage.ClassCapacity && f.Severity >= SeverityWarning
}

func (e *engine) addAdvice(s string) {
	if !e.advice[s] {
		e.advice[s] = true
		e.r.Advice = append(e.r.Advice, s)
	}
}

func (e *engine) finish() {
	if e.counted > 0 {
		a := e.attributed / e.counted
		e.r.Attribution = &a
	}
	fs := make([]*Finding, 0, len(e.order))
	for _, id := range e.order {
		fs = append(fs, e.byID[id])
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.DropRate != b.DropRate {
			return a.DropRate > b.DropRate
		}
		return a.ID < b.ID
	})
	e.r.Findings = make([]Finding, len(fs))
	for i, f := range fs {
		e.r.Findings[i] = *f
	}
	e.r.Plan = e.plan()
}

func intp(i int) *int { return &i }
