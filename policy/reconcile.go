package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/nettune/nettune/model/stage"
)

// reconcile is the one step after the rules (docs/rules.md §8.6). It makes one finding of
// every population of drops and takes every decision that involves more than one rule:
//
//  1. merge: observations of one place are one population; its class comes from the
//     observation that knows most (source), its drops from the counters.
//  2. joinReasons: in-path drop reasons join the counter populations that saw the same
//     drops (a conntrack table's share of NETFILTER_DROP first, the rest to the firewall);
//     a reason no counter accounts for keeps a finding of its own, saying which counters
//     were checked, and netfilter drops of that kind are placed by the firewall's rules.
//  3. joinViews: a sender's view of drops lower in the path (UDP ENOBUFS) joins the
//     findings that account for it.
//  4. grade: thresholds and severity; benign and policy findings are never critical.
//  5. escalateBudget: softirq squeezes are capacity loss, with the budget knobs, only where
//     the squeezed CPU serves ring or FIFO loss.
//  6. applyOffers: knobs and evidence offered for other rules' findings (spreading the
//     load answers ring, FIFO and backlog loss) join the actionable ones.
//  7. order: capacity first, then severity, drop rate and ID; the planner then reads the
//     findings in that order (plan.go).
func reconcile(in *input, outs []output) *Report {
	rc := &reconciler{in: in, pops: map[string]*pop{}}
	var reasons, views []obs
	var offers []offer
	var general, missing []string
	for _, o := range outs {
		for _, x := range o.obs {
			switch {
			case x.source == sourceReason:
				reasons = append(reasons, x)
			case len(x.viewOf) > 0:
				views = append(views, x)
			default:
				rc.merge(x)
			}
		}
		offers = append(offers, o.offers...)
		if o.ruleset != nil {
			rc.ruleset = o.ruleset
		}
		general = append(general, o.advice...)
		missing = append(missing, o.missing...)
	}
	rc.joinReasons(reasons)
	rc.joinViews(views)
	fs := rc.grade()
	rc.escalateBudget(fs)
	offerAdvice, offerMissing := rc.applyOffers(fs, offers)
	order(fs)

	r := &Report{IntervalSeconds: in.d.Interval.Seconds(), Netns: in.ns, Plan: []Action{}, Funnel: []Funnel{}}
	r.Findings = make([]Finding, len(fs))
	for i, f := range fs {
		r.Findings[i] = f.Finding
	}
	p := newPlanner(in)
	for i, f := range fs {
		p.propose(&r.Findings[i], f.proposals)
	}
	r.Plan = p.plan()
	r.Attribution = attribution(fs)

	seen := map[string]bool{}
	addAdvice := func(s string) {
		if !seen[s] {
			seen[s] = true
			r.Advice = append(r.Advice, s)
		}
	}
	for i, f := range fs {
		for _, a := range f.advice {
			if !a.onlyActionable || actionable(&r.Findings[i]) {
				addAdvice(a.text)
			}
		}
	}
	for _, s := range offerAdvice {
		addAdvice(s)
	}
	for _, s := range p.advice {
		addAdvice(s)
	}
	sort.Strings(general)
	for _, s := range general {
		addAdvice(s)
	}

	r.Missing = append(r.Missing, in.cur.Errors...)
	for _, name := range in.d.Resets {
		r.Missing = append(r.Missing, "counter reset during the interval (lower bound used): "+name)
	}
	sort.Strings(missing)
	for _, s := range slices.Concat(missing, offerMissing, p.missing) {
		r.Missing = appendOnce(r.Missing, s)
	}
	return r
}

type reconciler struct {
	in      *input
	pops    map[string]*pop
	ruleset *rulesetView
}

// pop is one population of drops while its finding is made: the observations of one place
// merged, and the drop reasons joined to it.
type pop struct {
	id string
	place
	class    stage.Class
	source   source
	drops    uint64 // the counters' count (or the reasons', for a population only they saw)
	events   uint64 // pressure events, when no observation counts drops
	base     base
	queue    *int
	summary  string
	evidence []Evidence
	reasons  []DropReason
	hook     stage.Hook
	rules    []FirewallRule
	sockets  sockets
	checked  []string
	covers   bool
	// confirmed is how many of drops in-path drop reasons confirmed.
	confirmed uint64
	proposals []proposal
	advice    []advice
	budget    *budgetEscalation
}

func (p *pop) hasDrops() bool { return p.drops > 0 }

// merge adds an observation to its place's population. A population's drops are the
// largest count of any observation of it (two counters of one place count the same
// packets); its class, summary and denominator come from the observation that knows most.
func (rc *reconciler) merge(o obs) *pop {
	id := rc.in.id(o.place)
	p := rc.pops[id]
	if p == nil {
		p = &pop{id: id, place: o.place}
		rc.pops[id] = p
	}
	if o.pressure {
		p.events = max(p.events, o.drops)
		if !p.hasDrops() && p.source == 0 {
			p.take(o)
		}
	} else if !p.hasDrops() || o.source > p.source || (o.source == p.source && o.drops > p.drops) {
		p.take(o)
		p.drops = max(p.drops, o.drops)
	} else {
		p.drops = max(p.drops, o.drops)
	}
	p.covers = p.covers || o.covers
	p.evidence = append(p.evidence, o.evidence...)
	p.reasons = append(p.reasons, o.reasons...)
	p.rules = append(p.rules, o.rules...)
	p.sockets.add(o.sockets)
	p.proposals = append(p.proposals, o.proposals...)
	p.advice = append(p.advice, o.advice...)
	if o.budget != nil {
		p.budget = o.budget
	}
	if o.queue != nil {
		p.queue = o.queue
	}
	return p
}

// take makes o the observation the population's finding is described by.
func (p *pop) take(o obs) {
	p.class, p.source, p.base, p.summary, p.hook = o.class, o.source, o.base, o.summary, o.hook
	if p.class == "" {
		p.class = stage.ClassCapacity
	}
}

// sortedPops is every population in ID order: reconcile's decisions do not depend on the
// order the rules ran in.
func (rc *reconciler) sortedPops() []*pop {
	ps := make([]*pop, 0, len(rc.pops))
	for _, p := range rc.pops {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].id < ps[j].id })
	return ps
}

// joinReasons joins every group of drop reasons to the counter populations at its place that
// saw the same drops, largest first, each up to what its counters counted. What is left
// joins the population of the reason's own place, or one whose counters see every drop
// there; otherwise it is drops no counter shows and becomes a finding of its own.
func (rc *reconciler) joinReasons(reasons []obs) {
	sort.SliceStable(reasons, func(i, j int) bool {
		a, b := reasons[i], reasons[j]
		return rc.in.id(a.place)+string(a.class) < rc.in.id(b.place)+string(b.class)
	})
	for _, r := range reasons {
		var cands []*pop
		for _, p := range rc.sortedPops() {
			if p.source >= sourceCounter && p.hasDrops() && p.stage == r.stage && p.hostWide == r.hostWide &&
				(r.iface == "" || p.iface == r.iface) && (r.sub == "" || p.sub == r.sub) {
				cands = append(cands, p)
			}
		}
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].drops > cands[j].drops })
		rows := slices.Clone(r.reasons)
		left := r.drops
		got := make([]uint64, len(cands))
		gotRows := make([][]DropReason, len(cands))
		for i, p := range cands {
			n := min(left, p.drops-min(p.drops, p.confirmed))
			if n > 0 {
				got[i], gotRows[i] = n, take(&rows, n)
				left -= n
			}
		}
		own := rc.in.id(r.place)
		if i := slices.IndexFunc(cands, func(p *pop) bool { return p.id == own || p.covers }); i >= 0 && left > 0 {
			got[i], gotRows[i] = got[i]+left, mergeRows(gotRows[i], rows)
			left = 0
		}
		for i, p := range cands {
			if got[i] > 0 {
				rc.confirm(p, got[i], gotRows[i])
			}
		}
		if left == 0 {
			continue
		}
		r.drops, r.reasons = left, rows
		if r.stage == stage.Netfilter {
			r = rc.placeByRuleset(r)
		}
		r.evidence = []Evidence{rc.in.ev("kfree_skb "+rows[0].Reason, left, r.base, left)}
		r = rc.poolReason(r)
		if p := rc.pops[rc.in.id(r.place)]; p != nil {
			// Drops no counter of this place saw, at a place that has a finding already
			// (counted rules of the hook the ruleset placed them at, or reasons of another
			// class): more drops of that population.
			if p.source >= sourceCounter {
				rc.confirm(p, left, rows)
			} else {
				if left > p.drops {
					p.take(r)
				}
				p.reasons = append(p.reasons, rows...)
				p.evidence = append(p.evidence, r.evidence...)
			}
			p.drops += left
			p.checked = appendAll(p.checked, checked(rc.in, r.place)...)
			continue
		}
		p := rc.merge(r)
		p.checked = appendAll(p.checked, checked(rc.in, r.place)...)
		if len(cands) > 0 {
			p.summary += fmt.Sprintf(" (%d more than the counters at this stage count)", left)
		}
	}
}

// poolReason makes PROTO_MEM drops that no counter of their place counted the account of the
// socket memory pool they were refused by, rather than drops nobody explains: the pool's
// reading against its limit, and its knob where it was at the limit; below it the memory
// cgroup refused the charge (docs/rules.md row 16). UDP's refusals have no interface (UDP
// reuses skb->dev): the probe places them by socket.
func (rc *reconciler) poolReason(r obs) obs {
	if !slices.ContainsFunc(r.reasons, func(x DropReason) bool { return x.Reason == "PROTO_MEM" }) {
		return r
	}
	var pl memPool
	var knob proposal
	switch r.stage {
	case stage.UDPMem:
		pl = rc.in.udpPool()
		knob = udpMemProposal(pl)
	case stage.TCPRcvbuf:
		pl = rc.in.tcpPool()
		knob = tcpMemProposal(pl, "TCP memory (tcp_mem, in pages) bounds all TCP sockets of the host together; sockstat showed the pool at its limit")
	default:
		return r
	}
	id := rc.in.id(r.place)
	if pl.known {
		r.evidence = append(r.evidence, pl.evidence(rc.in))
	}
	switch {
	case pl.atLimit():
		r.summary = fmt.Sprintf("the kernel refused %s socket memory (drop reason PROTO_MEM) while the %s pool (%s, host-wide) was at its limit", pl.name, pl.name, pl.key)
		r.offer(knob)
		r.say(always(id + ": in a container, check the memory cgroup limit too: socket memory is charged to it"))
	case pl.known:
		r.summary = fmt.Sprintf("the kernel refused %s socket memory (drop reason PROTO_MEM) with the %s pool (%s) below its limit: the memory cgroup refused the charge", pl.name, pl.name, pl.key)
		r.say(always(id + ": the memory cgroup of the receiving application refused the socket memory: raise the container's memory limit; " + pl.key + " does not reach it"))
	default:
		r.summary = fmt.Sprintf("the kernel refused %s socket memory (drop reason PROTO_MEM): the %s pool (%s) or the memory cgroup; sockstat was not read", pl.name, pl.name, pl.key)
	}
	return r
}

// confirm joins n drop reasons (rows) to population p.
func (rc *reconciler) confirm(p *pop, n uint64, rows []DropReason) {
	x := Evidence{Counter: "kfree_skb " + rows[0].Reason, Delta: n, Rate: rc.in.rate(n)}
	if p.drops > 0 {
		x.Note = fmt.Sprintf("in-path drops ÷ counter drops = %.3f (counters are the totals; in-path attributes them)",
			float64(n)/float64(p.drops))
	}
	p.evidence = append(p.evidence, x)
	p.reasons = append(p.reasons, rows...)
	p.confirmed += n
}

// mergeRows appends rows to a, adding up rows of the same reason and location.
func mergeRows(a, rows []DropReason) []DropReason {
	for _, r := range rows {
		if i := slices.IndexFunc(a, func(x DropReason) bool { return x.Reason == r.Reason && x.Location == r.Location }); i >= 0 {
			a[i].Count += r.Count
			a[i].Rate += r.Rate
			continue
		}
		a = append(a, r)
	}
	return a
}

// take removes the first n drops from rows (splitting a row) and returns them.
func take(rows *[]DropReason, n uint64) []DropReason {
	var out []DropReason
	for n > 0 && len(*rows) > 0 {
		r := &(*rows)[0]
		if r.Count <= n {
			out = append(out, *r)
			n -= r.Count
			*rows = (*rows)[1:]
			continue
		}
		part := *r
		part.Count, part.Rate = n, r.Rate*float64(n)/float64(r.Count)
		r.Rate -= part.Rate
		r.Count -= n
		out = append(out, part)
		n = 0
	}
	return out
}

// placeByRuleset places NETFILTER_DROP drops that neither conntrack nor a rule counter
// counted: the only place the ruleset can drop them names the rule (and the hook); one hook
// with several such places names the hook; otherwise the finding lists the candidates and
// says how to find the rule. The kfree_skb location (nf_hook_slow) is the same for every
// hook, so the ruleset is all there is to tell them apart.
func (rc *reconciler) placeByRuleset(r obs) obs {
	find := "nft --handle list ruleset shows every rule with its handle; a counter on each DROP rule (nft replace rule … handle N counter drop) shows which one drops"
	rs := rc.ruleset
	switch {
	case rs == nil:
		r.say(always(rc.in.id(r.place) + ": the ruleset was not read; " + find))
		return r
	case rs.unreadable != "":
		r.summary += " (the ruleset could not be read: " + rs.unreadable + ")"
		r.say(always(rc.in.id(r.place) + ": " + find))
		return r
	}
	hooks := map[stage.Hook]bool{}
	for _, c := range rs.candidates {
		hooks[c.Hook] = true
	}
	r.base = rc.in.netfilterBase("", rs.v4, rs.v6)
	switch {
	case len(rs.candidates) == 1:
		c := rs.candidates[0]
		r.hook, r.sub, r.rules = c.Hook, string(c.Hook), rs.candidates
		r.base = rc.in.netfilterBase(r.sub, rs.v4, rs.v6)
		r.summary = fmt.Sprintf("the firewall dropped packets at the %s hook: the only DROP in the ruleset is %s %s %s: %s",
			c.Hook, c.Family, c.Table, c.Chain, c.Expr)
	case len(hooks) == 1:
		r.hook = rs.candidates[0].Hook
		r.sub, r.rules = string(r.hook), rs.candidates
		r.base = rc.in.netfilterBase(r.sub, rs.v4, rs.v6)
		r.summary = fmt.Sprintf("the firewall dropped packets at the %s hook; %d rules or chain policies there can drop, and none has a counter that tells which",
			r.hook, len(rs.candidates))
		r.say(always(rc.in.id(r.place) + ": " + find))
	case len(rs.candidates) == 0:
		r.summary = "the firewall dropped packets, but no rule of the ruleset drops and no chain's policy does: a ruleset changed during the interval, or a module other than nf_tables (x_tables) dropped them"
	default:
		r.rules = rs.candidates
		var hs []string
		for h := range hooks {
			hs = append(hs, string(h))
		}
		sort.Strings(hs)
		r.summary = "the firewall dropped packets at one of the hooks " + strings.Join(hs, ", ") +
			"; the kernel does not say which hook, and no DROP rule's counter moved"
		r.say(always(rc.in.id(r.place) + ": " + find))
	}
	return r
}

// joinViews joins a sender's view of drops (UDP sends failing with ENOBUFS) to the largest
// population at the stages below it that accounts for the rate (within 10 %); otherwise the
// view is a population of its own.
func (rc *reconciler) joinViews(views []obs) {
	sort.SliceStable(views, func(i, j int) bool { return rc.in.id(views[i].place) < rc.in.id(views[j].place) })
	for _, v := range views {
		var sum uint64
		var largest *pop
		for _, p := range rc.sortedPops() {
			if p.hostWide || !p.hasDrops() || !slices.ContainsFunc(v.viewOf, func(w place) bool {
				return w.stage == p.stage && (w.sub == "" || w.sub == p.sub)
			}) {
				continue
			}
			sum += p.drops
			if largest == nil || p.drops > largest.drops {
				largest = p
			}
		}
		if largest != nil && rc.in.rate(v.drops) <= 1.1*rc.in.rate(sum) {
			for _, x := range v.evidence {
				x.Note = joinNote(x.Note, "the senders' side of these drops (ENOBUFS)")
				largest.evidence = append(largest.evidence, x)
			}
			continue
		}
		rc.merge(v)
	}
}

// finding is a graded population.
type finding struct {
	Finding
	*pop
}

// grade turns the populations into findings by the thresholds (docs/rules.md §3.3).
func (rc *reconciler) grade() []*finding {
	var fs []*finding
	for _, p := range rc.sortedPops() {
		f := &finding{pop: p}
		if rc.regrade(f, p.drops == 0) {
			fs = append(fs, f)
		}
	}
	return fs
}

// regrade (re)computes a finding's grade; false when it is below the thresholds.
func (rc *reconciler) regrade(f *finding, pressure bool) bool {
	p := f.pop
	n := p.drops
	if pressure {
		n = p.events
	}
	if n == 0 {
		return false
	}
	rate, ratio := rc.in.rate(n), p.base.ratio(n)
	sev, ok := rc.in.cfg.Thresholds.grade(rate, ratio, p.base.known, pressure, p.class)
	if !ok {
		return false
	}
	f.Finding = Finding{ID: p.id, Stage: p.stage, Class: p.class, Severity: sev, Interface: p.iface,
		Queue: p.queue, CPU: p.cpu, Hook: p.hook, Summary: p.summary, Ratio: ratio, Evidence: p.evidence,
		Reasons: p.reasons, Rules: p.rules, Checked: p.checked, Sockets: p.sockets.list, SocketsOmitted: p.sockets.omitted}
	if !p.hostWide {
		f.Netns = rc.in.ns
	}
	if !pressure && p.stage != stage.SoftirqBudget { // squeezes are not packets
		f.DropRate = rate
	}
	if f.Evidence == nil {
		f.Evidence = []Evidence{}
	}
	return true
}

// grade applies the thresholds (docs/rules.md §3.3): below MinRate or MinRatio → no finding;
// pressure counters are info at most; loss nobody could tune (benign, policy) is a warning
// at most, because severity is how much the loss hurts the host's service.
func (t Thresholds) grade(rate, ratio float64, known, pressure bool, class stage.Class) (Severity, bool) {
	if rate <= 0 || rate < t.MinRate || (known && ratio < t.MinRatio) {
		return 0, false
	}
	var s Severity
	switch {
	case pressure:
		s = SeverityInfo
	case !known:
		s = SeverityWarning // share unknown: loss at ≥ MinRate is worth a look
	case ratio >= t.CriticalRatio:
		s = SeverityCritical
	case ratio >= t.ActRatio:
		s = SeverityWarning
	}
	if class != stage.ClassCapacity {
		s = min(s, SeverityWarning)
	}
	return s, true
}

// escalateBudget decides each squeezed CPU: capacity loss, with the budget knobs, when it
// serves a queue of a link with actionable ring or FIFO loss (or such a link's interrupts are
// unknown); pressure otherwise (docs/rules.md row 4).
func (rc *reconciler) escalateBudget(fs []*finding) {
	lossCPUs, unknown := rc.rxLossCPUs(fs)
	for _, f := range fs {
		b := f.budget
		if b == nil {
			continue
		}
		coincident := lossCPUs[b.cpu] || unknown
		if !coincident {
			f.Summary += " (pressure only: no ring or FIFO drops on this CPU)"
			continue
		}
		f.summary += ", while queues it serves dropped packets in the ring or NIC FIFO"
		if !lossCPUs[b.cpu] && len(f.evidence) > 0 {
			f.evidence[0].Note = "ring/FIFO drops on a link whose queue IRQs are not known: CPU attribution assumed"
		}
		f.drops = f.events
		rc.regrade(f, false)
		f.proposals = append(f.proposals, b.proposals...)
	}
}

// rxLossCPUs returns the CPUs whose queue interrupts belong to links with actionable ring or
// FIFO loss; unknown is set when such a link has no interrupt information.
func (rc *reconciler) rxLossCPUs(fs []*finding) (map[int]bool, bool) {
	cpus := map[int]bool{}
	unknown := false
	for _, f := range fs {
		if !actionable(&f.Finding) || (f.Stage != stage.RxRing && f.Stage != stage.NICFifo) {
			continue
		}
		found := false
		for _, q := range rc.in.d.Interrupts {
			if q.Link != f.Interface || (f.Queue != nil && q.Queue != *f.Queue) || q.Dir == "tx" {
				continue
			}
			if c, ok := busiest(q.PerCPU); ok {
				cpus[c], found = true, true
			}
		}
		if !found {
			unknown = true
		}
	}
	return cpus, unknown
}

// applyOffers gives each offer's evidence and knobs to the actionable findings it answers.
// An offer that answers none adds nothing, not even its advice.
func (rc *reconciler) applyOffers(fs []*finding, offers []offer) (advice, missing []string) {
	sort.SliceStable(offers, func(i, j int) bool { return offers[i].iface < offers[j].iface })
	for _, o := range offers {
		var targets []*finding
		for _, f := range fs {
			if !actionable(&f.Finding) {
				continue
			}
			if (f.Interface == o.iface && slices.Contains(o.stages, f.Stage)) || (f.pop.hostWide && slices.Contains(o.hostStages, f.Stage)) {
				targets = append(targets, f)
			}
		}
		if len(targets) == 0 {
			continue
		}
		for _, f := range targets {
			for _, x := range o.evidence {
				if !slices.ContainsFunc(f.Evidence, func(e Evidence) bool { return e.Counter == x.Counter && e.Note == x.Note }) {
					f.Evidence = append(f.Evidence, x)
				}
			}
			f.proposals = append(f.proposals, o.proposals...)
		}
		advice = append(advice, o.advice...)
		missing = append(missing, o.missing...)
	}
	return advice, missing
}

// order sorts findings in the verdict's order: capacity loss first (it is what hurts and what
// can be tuned), then the worse, the larger, and by ID. A capacity finding that lost nothing
// (time_squeeze without drops) is no loss: it does not go before drops of another class.
func order(fs []*finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i].Finding, fs[j].Finding
		if ac, bc := capacityLoss(&a), capacityLoss(&b); ac != bc {
			return ac
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.DropRate != b.DropRate {
			return a.DropRate > b.DropRate
		}
		return a.ID < b.ID
	})
}

// capacityLoss: a capacity finding that lost packets in the interval.
func capacityLoss(f *Finding) bool { return f.Class == stage.ClassCapacity && f.DropRate > 0 }

// attribution is drops confirmed by drop reasons ÷ the counter drops of the findings they
// confirmed; nil when none was.
func attribution(fs []*finding) *float64 {
	var confirmed, counted float64
	for _, f := range fs {
		if f.confirmed > 0 && f.source >= sourceCounter {
			confirmed += float64(f.confirmed)
			counted += float64(f.drops)
		}
	}
	if counted == 0 {
		return nil
	}
	a := confirmed / counted
	return &a
}

// actionable says whether a finding earns plan actions: capacity loss at ≥ ActRatio.
func actionable(f *Finding) bool {
	return f != nil && f.Class == stage.ClassCapacity && f.Severity >= SeverityWarning
}

// busiest is the index of the largest value; false when all are zero.
func busiest(xs []uint64) (int, bool) {
	best, bi := uint64(0), -1
	for i, x := range xs {
		if x > best {
			best, bi = x, i
		}
	}
	return bi, bi >= 0
}

func appendAll(xs []string, ys ...string) []string {
	for _, y := range ys {
		xs = appendOnce(xs, y)
	}
	return xs
}
