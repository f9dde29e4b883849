package policy

import (
	"fmt"
	"strconv"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Qdisc kinds by what their drops mean (docs/rules.md row 7).
var (
	// aqmKinds drop on purpose to signal congestion; only drops with the queue at its packet
	// limit are capacity loss.
	aqmKinds = set("fq_codel", "codel", "fq", "pie", "fq_pie", "cake", "red", "choke", "sfb", "dualpi2", "gred")
	// shaperKinds enforce a configured rate: their drops (and their children's) are policy.
	shaperKinds = set("tbf", "htb", "hfsc", "cbq")
	// aggregateKinds only sum their children's statistics.
	aggregateKinds = set("mq", "mqprio", "multiq", "prio", "drr", "ets", "qfq")
	// emulatorKinds drop on purpose to emulate a lossy network (netem loss): configured policy.
	emulatorKinds = set("netem")
	ingressKinds  = set("ingress", "clsact")
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// qdiscRule: docs/rules.md row 7. A link's qdisc drops are split by what they mean — queue
// overflow (capacity), AQM signals, a shaper's rate, netem's emulated loss (policy) — each
// its own population at stage qdisc, and tc ingress drops at tc-ingress. The rule reads each
// qdisc's kind, rate and limit, so it knows the class better than a drop reason does.
func qdiscRule(in *input) output {
	var out output
	for i := range in.d.Links {
		out.obs = append(out.obs, qdiscLink(in, &in.d.Links[i])...)
	}
	return out
}

// qdiscGroup collects the drops of one link's qdiscs that mean the same thing.
type qdiscGroup struct {
	drops, sent uint64
	qs          []model.Qdisc
	notes       []string
}

func (g *qdiscGroup) add(q model.Qdisc, note string) {
	g.drops += q.Drops
	g.sent += q.Packets
	g.qs = append(g.qs, q)
	g.notes = append(g.notes, note)
}

// evidence is one row per qdisc, each a share of the group's traffic.
func (g *qdiscGroup) evidence(in *input, l *model.Link, b base) []Evidence {
	out := make([]Evidence, len(g.qs))
	for i, q := range g.qs {
		x := in.ev(qdiscName(l, q)+" dropped", q.Drops, b, g.drops)
		x.Note = g.notes[i]
		if q.Overlimits > 0 {
			x.Note = joinNote(x.Note, fmt.Sprintf("%d overlimits", q.Overlimits))
		}
		out[i] = x
	}
	return out
}

func qdiscName(l *model.Link, q model.Qdisc) string {
	h := q.Handle
	if h == "" {
		h = "parent " + q.Parent
	}
	return fmt.Sprintf("%s qdisc %s %s", l.Name, q.Kind, h)
}

func qdiscLink(in *input, l *model.Link) []obs {
	if !qdiscDropped(l) {
		return nil
	}
	var shaped, saturated, childDrops bool
	for _, q := range l.Qdiscs {
		if q.Root && shaperKinds[q.Kind] {
			shaped = true
			saturated = shaperSaturated(in, q)
		}
		if !q.Root && !ingressKinds[q.Kind] && q.Drops > 0 {
			childDrops = true
		}
	}
	var capacity, aqm, shaper, ingress, emulated qdiscGroup
	for _, q := range l.Qdiscs {
		switch {
		case q.Drops == 0 || q.Kind == "noqueue":
		case ingressKinds[q.Kind]:
			ingress.add(q, "tc ingress filter drops (police or a program verdict)")
		case emulatorKinds[q.Kind]:
			emulated.add(q, "netem: loss emulation configured on this qdisc")
		case q.Root && childDrops && (aggregateKinds[q.Kind] || shaperKinds[q.Kind]):
			// its children are reported; the root only sums them
		case shaped && (saturated || q.Root):
			shaper.add(q, "under a "+rootKind(l)+" shaper: drops enforce the configured rate")
		case shaped:
			// The shaper has spare rate: its leaf queue overflows on bursts, which a longer
			// queue absorbs.
			capacity.add(q, fmt.Sprintf("under a %s shaper running below its rate: bursts overflow this queue", rootKind(l)))
		case aqmKinds[q.Kind] && !atLimit(q):
			aqm.add(q, "AQM drop: intended congestion signal")
		default:
			capacity.add(q, "")
		}
	}
	sentOf := l.Name + " qdiscs sent"
	group := func(g *qdiscGroup, sub string, class stage.Class, summary string) *obs {
		if g.drops == 0 {
			return nil
		}
		b := passedBase(sentOf, g.sent)
		return &obs{place: place{stage: stage.Qdisc, iface: l.Name, sub: sub}, class: class, source: sourceConfig, covers: true,
			drops: g.drops, base: b, evidence: g.evidence(in, l, b), summary: summary}
	}
	var out output
	if o := group(&capacity, "", stage.ClassCapacity,
		fmt.Sprintf("%s egress queue overflowed: packets arrive faster than the device sends them and the queue limit is reached", l.Name)); o != nil {
		for _, q := range capacity.qs {
			in.proposeQdisc(o, l, q)
		}
		if l.Ring != nil && hasRequeues(l) {
			in.proposeTxRing(o, l)
		}
		out.add(o)
	}
	out.add(group(&aqm, "aqm", stage.ClassPolicy,
		fmt.Sprintf("%s AQM qdisc dropped packets to signal congestion: intended, not loss to tune away", l.Name)))
	if o := group(&shaper, "shaper", stage.ClassPolicy,
		fmt.Sprintf("%s traffic shaping (%s) drops what exceeds the configured rate", l.Name, rootKind(l))); o != nil {
		o.say(always(l.Name + ": shaper drops are the configured rate at work; raise the rate or the leaf queue limit only if the shaping is not intended"))
		out.add(o)
	}
	if o := group(&emulated, "netem", stage.ClassPolicy,
		fmt.Sprintf("%s netem qdisc drops packets on purpose: configured network emulation, not a capacity problem", l.Name)); o != nil {
		o.say(always(l.Name + ": a netem qdisc is emulating loss; remove it (tc qdisc del) if that is not intended"))
		out.add(o)
	}
	if ingress.drops > 0 {
		p := place{stage: stage.TCIngress, iface: l.Name}
		b := in.stageBase(p)
		out.add(&obs{place: p, class: stage.ClassPolicy, source: sourceConfig, covers: true, drops: ingress.drops, base: b,
			evidence: ingress.evidence(in, l, b),
			summary:  fmt.Sprintf("%s ingress tc filters (police actions or programs) dropped packets: a policy decision", l.Name)})
	}
	return out.obs
}

// qdiscDropped: some qdisc of l dropped packets. Most links' did not, and then qdiscLink has
// nothing to report.
func qdiscDropped(l *model.Link) bool {
	for _, q := range l.Qdiscs {
		if q.Drops > 0 {
			return true
		}
	}
	return false
}

// shaperSaturated: the shaper sent at ≥ 90 % of its configured rate, so drops are the rate
// limit at work. An unknown rate counts as saturated: without evidence of spare rate nettune
// does not call a shaper's drops capacity loss.
func shaperSaturated(in *input, q model.Qdisc) bool {
	if q.Rate == 0 {
		return true
	}
	return in.rate(q.Bytes) >= 0.9*float64(q.Rate)
}

func rootKind(l *model.Link) string {
	for _, q := range l.Qdiscs {
		if q.Root {
			return q.Kind
		}
	}
	return ""
}

// atLimit: the gauge shows the queue (nearly) at its packet limit, so AQM drops include
// tail drops at the limit.
func atLimit(q model.Qdisc) bool {
	n := max(q.Qlen, q.Backlog)
	return q.Limit > 0 && float64(n) >= 0.9*float64(q.Limit)
}

func hasRequeues(l *model.Link) bool {
	for _, q := range l.Qdiscs {
		if q.Requeues > 0 {
			return true
		}
	}
	return false
}

// proposeQdisc proposes the knob that lengthens this qdisc: txqueuelen for pfifo_fast (its
// limit), the qdisc's own packet limit for pfifo and AQM qdiscs at their limit.
func (in *input) proposeQdisc(o *obs, l *model.Link, q model.Qdisc) {
	skb := in.skbBytes()
	switch {
	case q.Kind == "pfifo_fast":
		cur := int64(l.TxQueueLen)
		id := knob.ID{Kind: knob.TxQueueLen, Iface: l.Name}
		next, atCap := in.step(cur, in.limit(id, knob.Bound{}))
		a := Action{
			Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
			Risk: "a longer queue adds latency under load (bufferbloat)",
			Why:  fmt.Sprintf("%s pfifo_fast queues are limited by txqueuelen %d and overflowed", l.Name, cur)}
		if !atCap {
			a.MemoryBytes = (next - cur) * int64(max(l.NumTxQ, 1)) * skb
		}
		o.offer(knobProposal(id, a, knob.Site{}))
	case q.Handle != "" && q.Limit > 0 && (q.Kind == "pfifo" || aqmKinds[q.Kind]):
		h, err := knob.ParseHandle(q.Handle)
		if err != nil {
			o.say(always(fmt.Sprintf("%s: qdisc handle %q not understood, so its limit cannot be proposed", l.Name, q.Handle)))
			return
		}
		cur := int64(q.Limit)
		id := knob.ID{Kind: knob.QdiscLimit, Iface: l.Name, Handle: h}
		next, atCap := in.step(cur, in.limit(id, knob.Bound{QdiscKind: q.Kind}))
		a := Action{
			Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
			Risk: "a longer queue adds latency under load (bufferbloat)",
			Why:  fmt.Sprintf("%s %s qdisc %s is full at its limit of %d packets", l.Name, q.Kind, q.Handle, cur)}
		if !atCap {
			a.MemoryBytes = (next - cur) * skb
		}
		site := knob.Site{Qdisc: q.Kind}
		if !q.Root {
			site.Parent = q.Parent
		}
		o.offer(knobProposal(id, a, site))
	default:
		o.say(ifActing(fmt.Sprintf("%s: nettune has no packet-limit knob it can step for %s; size its limit by hand", l.Name, qdiscName(l, q))))
	}
}
