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

func qdiscRules(e *engine) {
	for i := range e.d.Links {
		qdiscLink(e, &e.d.Links[i])
	}
}

// qdiscGroup collects the drops of one link's qdiscs that mean the same thing.
type qdiscGroup struct {
	drops, sent uint64
	ev          []Evidence
	qs          []model.Qdisc
}

func (g *qdiscGroup) add(e *engine, l *model.Link, q model.Qdisc, note string) {
	g.drops += q.Drops
	g.sent += q.Packets
	x := e.ev(qdiscName(l, q)+" dropped", q.Drops, qdiscName(l, q)+" sent", q.Packets)
	x.Note = note
	if q.Overlimits > 0 {
		x.Note = joinNote(x.Note, fmt.Sprintf("%d overlimits", q.Overlimits))
	}
	g.ev = append(g.ev, x)
	g.qs = append(g.qs, q)
}

func qdiscName(l *model.Link, q model.Qdisc) string {
	h := q.Handle
	if h == "" {
		h = "parent " + q.Parent
	}
	return fmt.Sprintf("%s qdisc %s %s", l.Name, q.Kind, h)
}

func qdiscLink(e *engine, l *model.Link) {
	if !qdiscDropped(l) {
		return
	}
	var shaped, saturated, childDrops bool
	for _, q := range l.Qdiscs {
		if q.Root && shaperKinds[q.Kind] {
			shaped = true
			saturated = shaperSaturated(e, q)
		}
		if !q.Root && !ingressKinds[q.Kind] && q.Drops > 0 {
			childDrops = true
		}
	}
	var capacity, aqm, policy, ingress, emulated qdiscGroup
	for _, q := range l.Qdiscs {
		switch {
		case q.Drops == 0 || q.Kind == "noqueue":
		case ingressKinds[q.Kind]:
			ingress.add(e, l, q, "tc ingress filter drops (police or a program verdict)")
		case emulatorKinds[q.Kind]:
			emulated.add(e, l, q, "netem: loss emulation configured on this qdisc")
		case q.Root && childDrops && (aggregateKinds[q.Kind] || shaperKinds[q.Kind]):
			// its children are reported; the root only sums them
		case shaped && (saturated || q.Root):
			policy.add(e, l, q, "under a "+rootKind(l)+" shaper: drops enforce the configured rate")
		case shaped:
			// The shaper has spare rate: its leaf queue overflows on bursts, which a longer
			// queue absorbs.
			capacity.add(e, l, q, fmt.Sprintf("under a %s shaper running below its rate: bursts overflow this queue", rootKind(l)))
		case aqmKinds[q.Kind] && !atLimit(q):
			aqm.add(e, l, q, "AQM drop: intended congestion signal")
		default:
			capacity.add(e, l, q, "")
		}
	}
	out := l.Name + " qdiscs"
	if f := e.add(obs{stage: stage.Qdisc, iface: l.Name, drops: capacity.drops, through: capacity.sent, of: out + " sent",
		summary:  fmt.Sprintf("%s egress queue overflowed: packets arrive faster than the device sends them and the queue limit is reached", l.Name),
		evidence: capacity.ev}); f != nil {
		for _, q := range capacity.qs {
			e.proposeQdisc(f, l, q)
		}
		if l.Ring != nil && hasRequeues(l) {
			e.proposeTxRing(f, l)
		}
	}
	e.add(obs{stage: stage.AQM, iface: l.Name, drops: aqm.drops, through: aqm.sent, of: out + " sent",
		summary:  fmt.Sprintf("%s AQM qdisc dropped packets to signal congestion: intended, not loss to tune away", l.Name),
		evidence: aqm.ev})
	if f := e.add(obs{stage: stage.Qdisc, class: stage.ClassPolicy, iface: l.Name, suffix: "shaper", drops: policy.drops, through: policy.sent, of: out + " sent",
		summary:  fmt.Sprintf("%s traffic shaping (%s) drops what exceeds the configured rate", l.Name, rootKind(l)),
		evidence: policy.ev}); f != nil {
		e.addAdvice(l.Name + ": shaper drops are the configured rate at work; raise the rate or the leaf queue limit only if the shaping is not intended")
	}
	if f := e.add(obs{stage: stage.Qdisc, class: stage.ClassPolicy, iface: l.Name, suffix: "netem", drops: emulated.drops, through: emulated.sent, of: out + " sent",
		summary:  fmt.Sprintf("%s netem qdisc drops packets on purpose: configured network emulation, not a capacity problem", l.Name),
		evidence: emulated.ev}); f != nil {
		e.addAdvice(l.Name + ": a netem qdisc is emulating loss; remove it (tc qdisc del) if that is not intended")
	}
	e.add(obs{stage: stage.TCIngress, class: stage.ClassPolicy, iface: l.Name, drops: ingress.drops, through: l.Stats.RxPackets, of: l.Name + " rx_packets",
		summary:  fmt.Sprintf("%s ingress tc filters (police actions or programs) dropped packets: a policy decision", l.Name),
		evidence: ingress.ev})
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
func shaperSaturated(e *engine, q model.Qdisc) bool {
	if q.Rate == 0 {
		return true
	}
	return e.d.Rate(q.Bytes) >= 0.9*float64(q.Rate)
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
func (e *engine) proposeQdisc(f *Finding, l *model.Link, q model.Qdisc) {
	skb := e.skbBytes()
	switch {
	case q.Kind == "pfifo_fast":
		cur := int64(l.TxQueueLen)
		id := knob.ID{Kind: knob.TxQueueLen, Iface: l.Name}
		next, atCap := e.step(cur, e.limit(id, knob.Bound{}))
		a := Action{
			Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
			Risk: "a longer queue adds latency under load (bufferbloat)",
			Why:  fmt.Sprintf("%s pfifo_fast queues are limited by txqueuelen %d and overflowed", l.Name, cur)}
		if !atCap {
			a.MemoryBytes = (next - cur) * int64(max(l.NumTxQ, 1)) * skb
		}
		e.propose(f, id, a)
	case q.Handle != "" && q.Limit > 0 && (q.Kind == "pfifo" || aqmKinds[q.Kind]):
		h, err := knob.ParseHandle(q.Handle)
		if err != nil {
			e.r.Missing = appendOnce(e.r.Missing, fmt.Sprintf("%s: qdisc handle %q not understood", l.Name, q.Handle))
			return
		}
		cur := int64(q.Limit)
		id := knob.ID{Kind: knob.QdiscLimit, Iface: l.Name, Handle: h}
		next, atCap := e.step(cur, e.limit(id, knob.Bound{QdiscKind: q.Kind}))
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
		e.proposeAt(f, id, a, site)
	default:
		if actionable(f) {
			e.addAdvice(fmt.Sprintf("%s: nettune has no packet-limit knob it can step for %s; size its limit by hand", l.Name, qdiscName(l, q)))
		}
	}
}
