package policy

import (
	"fmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// ringRule: docs/rules.md row 2 (RX ring / DMA buffers) and row 14's TX ring. Allocation
// failures and TX queue stops are pressure, not loss (docs/rules.md §3.4).
func ringRule(in *input) output {
	var out output
	for i := range in.d.Links {
		l := &in.d.Links[i]
		c := in.counters(i)
		if c != noCounters {
			out.add(rxRingDrops(in, l), rxAllocFailures(in, l), txRingDrops(in, l))
		}
		out.add(txRingFull(in, l, c)) // qdisc requeues count too
	}
	return out
}

func rxRingDrops(in *input, l *model.Link) *obs {
	drops, perQ := stageDrops(l, stage.RxRing)
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.RxRing, iface: l.Name}
	b := in.stageBase(p)
	qev, q := in.queueSkew(l, perQ, model.Rx)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, queue: q,
		evidence: append(in.counterEvidence(l, stage.RxRing, model.KindDrops, stage.ClassCapacity, b, drops), qev...),
		summary:  fmt.Sprintf("%s drops packets because an RX ring had no free buffer: the ring is too small for bursts or its CPU drains it too slowly", l.Name)}
	in.proposeRxRing(o, l)
	return o
}

// rxAllocFailures are pressure.
func rxAllocFailures(in *input, l *model.Link) *obs {
	n := counterSum(l, stage.RxRing, model.KindEvents, allQueues)
	if n == 0 {
		return nil
	}
	p := place{stage: stage.RxRing, iface: l.Name}
	b := in.stageBase(p)
	return &obs{place: p, source: sourceCounter, drops: n, base: b, pressure: true,
		summary:  fmt.Sprintf("%s: RX buffer allocation failures (may or may not drop packets; an unrefilled ring shows up as ring or FIFO drops)", l.Name),
		evidence: in.counterEvidence(l, stage.RxRing, model.KindEvents, stage.ClassCapacity, b, n)}
}

func txRingDrops(in *input, l *model.Link) *obs {
	drops, perQ := stageDrops(l, stage.TxRing)
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.TxRing, iface: l.Name}
	b := in.stageBase(p)
	qev, q := in.queueSkew(l, perQ, model.Tx)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, queue: q,
		evidence: append(in.counterEvidence(l, stage.TxRing, model.KindDrops, stage.ClassCapacity, b, drops), qev...),
		summary:  fmt.Sprintf("%s drops packets at the TX ring", l.Name)}
	in.proposeTxRing(o, l)
	return o
}

// txRingFull: queue stops (driver counters c) and qdisc requeues are pressure.
func txRingFull(in *input, l, c *model.Link) *obs {
	stops := counterSum(c, stage.TxRing, model.KindEvents, allQueues)
	var requeues uint64
	for _, qd := range l.Qdiscs {
		requeues += qd.Requeues
	}
	if stops+requeues == 0 {
		return nil
	}
	p := place{stage: stage.TxRing, iface: l.Name}
	b := in.stageBase(p)
	pev := in.counterEvidence(c, stage.TxRing, model.KindEvents, stage.ClassCapacity, b, stops+requeues)
	if requeues > 0 {
		pev = append(pev, in.ev(l.Name+" qdisc requeues", requeues, b, stops+requeues))
	}
	return &obs{place: p, source: sourceCounter, drops: stops + requeues, base: b, pressure: true,
		summary:  fmt.Sprintf("%s: TX ring full (queue stops/requeues): backpressure into the qdisc, not loss by itself", l.Name),
		evidence: pev}
}
