package policy

import (
	"fmt"
	"strconv"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// ringRules: docs/rules.md row 2 (RX ring / DMA buffers) and row 14's TX ring. Allocation failures
// and TX queue stops are pressure, not loss (docs/rules.md §3.4).
func ringRules(e *engine) {
	for i := range e.d.Links {
		l := &e.d.Links[i]
		rxRingDrops(e, l)
		rxAllocFailures(e, l)
		txRingDrops(e, l)
		txRingFull(e, l)
	}
}

func rxRingDrops(e *engine, l *model.Link) {
	drops, perQ := stageDrops(l, stage.RxRing)
	if drops == 0 {
		return
	}
	of := l.Name + " rx_packets"
	rx := l.Stats.RxPackets
	ev := e.counterEvidence(l, stage.RxRing, model.KindDrops, of, rx)
	qev, q := e.queueSkew(l, perQ, model.Rx)
	f := e.add(obs{stage: stage.RxRing, iface: l.Name, drops: drops, through: rx, of: of,
		summary:  fmt.Sprintf("%s drops packets because an RX ring had no free buffer: the ring is too small for bursts or its CPU drains it too slowly", l.Name),
		evidence: append(ev, qev...)})
	if f != nil {
		f.Queue = q
		e.proposeRxRing(f, l)
	}
}

// rxAllocFailures are pressure.
func rxAllocFailures(e *engine, l *model.Link) {
	n := counterSum(l, stage.RxRing, model.KindEvents, allQueues)
	if n == 0 {
		return
	}
	of := l.Name + " rx_packets"
	e.add(obs{stage: stage.RxRing, iface: l.Name, drops: n, through: l.Stats.RxPackets, of: of, pressure: true,
		summary:  fmt.Sprintf("%s: RX buffer allocation failures (may or may not drop packets; an unrefilled ring shows up as ring or FIFO drops)", l.Name),
		evidence: e.counterEvidence(l, stage.RxRing, model.KindEvents, of, l.Stats.RxPackets)})
}

func txRingDrops(e *engine, l *model.Link) {
	drops, perQ := stageDrops(l, stage.TxRing)
	if drops == 0 {
		return
	}
	of := l.Name + " tx_packets"
	tx := l.Stats.TxPackets
	ev := e.counterEvidence(l, stage.TxRing, model.KindDrops, of, tx)
	qev, q := e.queueSkew(l, perQ, model.Tx)
	if f := e.add(obs{stage: stage.TxRing, iface: l.Name, drops: drops, through: tx, of: of,
		summary:  fmt.Sprintf("%s drops packets at the TX ring", l.Name),
		evidence: append(ev, qev...)}); f != nil {
		f.Queue = q
		e.proposeTxRing(f, l)
	}
}

// txRingFull: queue stops and qdisc requeues are pressure.
func txRingFull(e *engine, l *model.Link) {
	stops := counterSum(l, stage.TxRing, model.KindEvents, allQueues)
	var requeues uint64
	for _, qd := range l.Qdiscs {
		requeues += qd.Requeues
	}
	if stops+requeues == 0 {
		return
	}
	of := l.Name + " tx_packets"
	tx := l.Stats.TxPackets
	pev := e.counterEvidence(l, stage.TxRing, model.KindEvents, of, tx)
	if requeues > 0 {
		pev = append(pev, e.ev(l.Name+" qdisc requeues", requeues, of, tx))
	}
	e.add(obs{stage: stage.TxRing, iface: l.Name, drops: stops + requeues, through: tx, of: of, pressure: true,
		summary:  fmt.Sprintf("%s: TX ring full (queue stops/requeues): backpressure into the qdisc, not loss by itself", l.Name),
		evidence: pev})
}

func (e *engine) proposeRxRing(f *Finding, l *model.Link) {
	if l.Ring == nil || l.Ring.RxMax == 0 {
		if actionable(f) {
			e.addAdvice(l.Name + ": the driver has no ring-size operation (ethtool -g), so " + f.ID + " cannot be answered with a bigger ring; spread the load instead")
		}
		return
	}
	cur := int64(l.Ring.Rx)
	id := knob.ID{Kind: knob.Ring, Iface: l.Name}
	next, atCap := e.step(cur, e.limit(id, knob.Bound{DriverMax: int64(l.Ring.RxMax)}))
	a := Action{
		Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
		Risk: "many drivers rebuild their rings (link down/up: a traffic blip); a longer ring adds queueing latency and cache/IOTLB footprint",
		Why: fmt.Sprintf("%s RX ring %d of maximum %d: a bigger ring absorbs bursts while the CPU catches up; it does not help a saturated CPU (spread the load first)",
			l.Name, cur, l.Ring.RxMax),
	}
	if !atCap {
		a.MemoryBytes = (next - cur) * int64(rxQueueCount(l)) * e.rxBufferBytes(l)
	}
	e.propose(f, id, a)
}

func (e *engine) proposeTxRing(f *Finding, l *model.Link) {
	if l.Ring == nil || l.Ring.TxMax == 0 {
		return
	}
	cur := int64(l.Ring.Tx)
	id := knob.ID{Kind: knob.Ring, Iface: l.Name, TX: true}
	next, atCap := e.step(cur, e.limit(id, knob.Bound{DriverMax: int64(l.Ring.TxMax)}))
	a := Action{
		Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
		Risk: "many drivers rebuild their rings (link down/up: a traffic blip); a longer TX ring hides queueing from the qdisc (bufferbloat)",
		Why:  fmt.Sprintf("%s TX ring %d of maximum %d fills up and pushes packets back into the qdisc, which then drops them", l.Name, cur, l.Ring.TxMax),
	}
	if !atCap {
		a.MemoryBytes = (next - cur) * int64(max(l.NumTxQ, 1)) * e.skbBytes()
	}
	e.propose(f, id, a)
}
