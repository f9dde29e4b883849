package policy

import (
	"fmt"
	"strconv"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// nicRule: docs/rules.md row 1 (NIC FIFO / port buffer), physical-layer errors and NIC TX
// errors, the device's own policy drops (steering misses, cloud allowances), and any other
// stage a driver counter is tagged with that no specific rule reads.
func nicRule(in *input) output {
	var out output
	for i := range in.d.Links {
		l, c := &in.d.Links[i], in.counters(i)
		out.add(nicPhy(in, l, c), nicFifo(in, l, c), nicTx(in, l, c))
		if c == noCounters {
			continue
		}
		if hasPolicyDrops(l) {
			out.add(nicPolicy(in, l, stage.NICFifo, model.Rx), nicPolicy(in, l, stage.NICTx, model.Tx))
		}
		out.obs = append(out.obs, otherDeviceStages(in, l)...)
	}
	return out
}

// add appends the observations that were made (non-nil).
func (o *output) add(xs ...*obs) {
	for _, x := range xs {
		if x != nil {
			o.obs = append(o.obs, *x)
		}
	}
}

// nicPhy and the other device rules read l's stats and its driver counters c (c is l, or
// noCounters when none of them moved).
func nicPhy(in *input, l, c *model.Link) *obs {
	s := l.Stats
	rt := s.RxCrcErrors + s.RxFrameErrors + s.RxLengthErrors
	drv, _ := stageDrops(c, stage.NICPhy)
	drops := max(rt, drv)
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.NICPhy, iface: l.Name}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{
		in.ev(l.Name+" rx_crc_errors", s.RxCrcErrors, b, drops),
		in.ev(l.Name+" rx_frame_errors", s.RxFrameErrors, b, drops),
		in.ev(l.Name+" rx_length_errors", s.RxLengthErrors, b, drops),
	})
	ev = append(ev, in.counterEvidence(l, stage.NICPhy, model.KindDrops, stage.ClassCapacity, b, drops)...)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: ev,
		summary: fmt.Sprintf("%s receives corrupt frames (CRC/frame/length errors): check cabling, optics, the link partner and FEC, not tuning", l.Name)}
	o.say(always(l.Name + ": physical-layer receive errors are not fixed by tuning: check cable/optics, link partner, FEC and duplex"))
	return o
}

func nicFifo(in *input, l, c *model.Link) *obs {
	s := l.Stats
	// rx_fifo/rx_over "may not correspond one-to-one with dropped packets" [if_link]: count
	// them only when the device does not report rx_missed_errors.
	rt := s.RxMissedErrors
	if rt == 0 {
		rt = s.RxFifoErrors + s.RxOverErrors
	}
	drv, perQ := stageDrops(c, stage.NICFifo)
	drops := max(rt, drv)
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.NICFifo, iface: l.Name}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{
		in.ev(l.Name+" rx_missed_errors", s.RxMissedErrors, b, drops),
		in.ev(l.Name+" rx_fifo_errors", s.RxFifoErrors, b, drops),
		in.ev(l.Name+" rx_over_errors", s.RxOverErrors, b, drops),
	})
	ev = append(ev, in.counterEvidence(l, stage.NICFifo, model.KindDrops, stage.ClassCapacity, b, drops)...)
	qev, q := in.queueSkew(l, perQ, model.Rx)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, queue: q, evidence: append(ev, qev...),
		summary: fmt.Sprintf("%s drops frames in the NIC's FIFO/port buffer: the host does not drain the NIC fast enough", l.Name)}
	o.say(always(l.Name + ": NIC FIFO drops with idle CPUs point at PCIe bandwidth, NUMA placement or firmware rather than buffers; lowering interrupt coalescing (ethtool -C rx-usecs) drains sooner"))
	in.proposeRxRing(o, l)
	return o
}

func nicTx(in *input, l, c *model.Link) *obs {
	s := l.Stats
	rt := s.TxFifoErrors + s.TxCarrierErrors + s.TxAbortedErrors
	if !virtual(l) {
		rt += s.TxDropped
	}
	drv, _ := stageDrops(c, stage.NICTx)
	drops := max(rt, drv)
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.NICTx, iface: l.Name}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{
		in.ev(l.Name+" tx_fifo_errors", s.TxFifoErrors, b, drops),
		in.ev(l.Name+" tx_carrier_errors", s.TxCarrierErrors, b, drops),
		in.ev(l.Name+" tx_aborted_errors", s.TxAbortedErrors, b, drops),
	})
	if !virtual(l) {
		ev = append(ev, nonZero([]Evidence{in.ev(l.Name+" tx_dropped", s.TxDropped, b, drops)})...)
	}
	ev = append(ev, in.counterEvidence(l, stage.NICTx, model.KindDrops, stage.ClassCapacity, b, drops)...)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: ev,
		summary: fmt.Sprintf("%s loses packets in the NIC's transmit path (carrier/FIFO/aborted errors or driver TX drops): check link, pause frames and cabling", l.Name)}
	o.say(always(l.Name + ": transmit errors point at the link (carrier, pause, cabling) or DMA mapping failures, not at buffer sizes"))
	return o
}

// hasPolicyDrops: some driver counter of l counted drops of class policy (most links have
// none: one pass decides).
func hasPolicyDrops(l *model.Link) bool {
	for i := range l.Counters {
		c := &l.Counters[i]
		if c.Value != 0 && c.Kind == model.KindDrops && classOf(c) == stage.ClassPolicy {
			return true
		}
	}
	return false
}

// nicPolicy: drops the device made on purpose at st (a flow-steering miss, an embedded
// switch's discard, a cloud allowance exceeded): their own population, class policy.
func nicPolicy(in *input, l *model.Link, st stage.Stage, dir model.Dir) *obs {
	drops, perQ := driverDrops(l, st, stage.ClassPolicy)
	if drops == 0 {
		return nil
	}
	p := place{stage: st, iface: l.Name, sub: "policy"}
	b := in.stageBase(p)
	qev, q := in.queueSkew(l, perQ, dir)
	o := &obs{place: p, class: stage.ClassPolicy, source: sourceConfig, covers: true, drops: drops, base: b, queue: q,
		evidence: append(in.counterEvidence(l, st, model.KindDrops, stage.ClassPolicy, b, drops), qev...),
		summary:  fmt.Sprintf("%s: the device refused packets by its own rules (no matching steering rule, embedded-switch discard, or a cloud allowance exceeded): a configured limit, not a buffer", l.Name)}
	o.say(always(l.Name + ": device policy drops (steering misses, allowance counters) are fixed where the policy is set: flow rules, the instance type or the provider's limits"))
	return o
}

// handledStage: a specific rule reads the driver counters of these stages.
func handledStage(s stage.Stage) bool {
	switch s {
	case stage.NICPhy, stage.NICFifo, stage.NICTx, stage.RxRing, stage.TxRing, stage.XDP:
		return true
	}
	return false
}

// otherDeviceStages reports driver drop counters tagged with any other stage (software RX
// drops a driver files elsewhere) with no knob: nettune has no remedy to propose for them.
func otherDeviceStages(in *input, l *model.Link) []obs {
	var out []obs
	var seen map[stage.Stage]bool
	for i := range l.Counters {
		if l.Counters[i].Value == 0 {
			continue // nothing to report at its stage (quiet links: every counter)
		}
		st := l.Counters[i].Stage
		if handledStage(st) || seen[st] || !st.Valid() {
			continue
		}
		if seen == nil {
			seen = map[stage.Stage]bool{}
		}
		seen[st] = true
		for _, class := range []stage.Class{stage.ClassCapacity, stage.ClassPolicy} {
			drops, perQ := driverDrops(l, st, class)
			if drops == 0 {
				continue
			}
			p := place{stage: st, iface: l.Name}
			if class != stage.ClassCapacity {
				p.sub = string(class)
			}
			b, dir := in.stageBase(p), model.Rx
			if st.Transmit() {
				dir = model.Tx
			}
			qev, q := in.queueSkew(l, perQ, dir)
			out = append(out, obs{place: p, class: class, source: sourceCounter, drops: drops, base: b, queue: q,
				summary:  fmt.Sprintf("%s driver counters report drops at stage %s", l.Name, st),
				evidence: append(in.counterEvidence(l, st, model.KindDrops, class, b, drops), qev...)})
		}
		if events := counterSum(l, st, model.KindEvents, allQueues); events > 0 {
			p := place{stage: st, iface: l.Name}
			b := in.stageBase(p)
			out = append(out, obs{place: p, source: sourceCounter, drops: events, base: b, pressure: true,
				summary:  fmt.Sprintf("%s driver reports pressure events at stage %s (not loss by themselves)", l.Name, st),
				evidence: in.counterEvidence(l, st, model.KindEvents, stage.ClassCapacity, b, events)})
		}
	}
	return out
}

// proposeRxRing proposes a bigger RX ring for the loss o observes on l.
func (in *input) proposeRxRing(o *obs, l *model.Link) {
	if l.Ring == nil || l.Ring.RxMax == 0 {
		o.say(ifActing(l.Name + ": the driver has no ring-size operation (ethtool -g), so " + in.id(o.place) + " cannot be answered with a bigger ring; spread the load instead"))
		return
	}
	cur := int64(l.Ring.Rx)
	id := knob.ID{Kind: knob.Ring, Iface: l.Name}
	next, atCap := in.step(cur, in.limit(id, knob.Bound{DriverMax: int64(l.Ring.RxMax)}))
	a := Action{
		Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
		Risk: "many drivers rebuild their rings (link down/up: a traffic blip); a longer ring adds queueing latency and cache/IOTLB footprint",
		Why: fmt.Sprintf("%s RX ring %d of maximum %d: a bigger ring absorbs bursts while the CPU catches up; it does not help a saturated CPU (spread the load first)",
			l.Name, cur, l.Ring.RxMax),
	}
	if !atCap {
		a.MemoryBytes = (next - cur) * int64(rxQueueCount(l)) * in.rxBufferBytes(l)
	}
	o.offer(knobProposal(id, a, knob.Site{}))
}

// proposeTxRing proposes a bigger TX ring for the loss o observes on l.
func (in *input) proposeTxRing(o *obs, l *model.Link) {
	if l.Ring == nil || l.Ring.TxMax == 0 {
		return
	}
	cur := int64(l.Ring.Tx)
	id := knob.ID{Kind: knob.Ring, Iface: l.Name, TX: true}
	next, atCap := in.step(cur, in.limit(id, knob.Bound{DriverMax: int64(l.Ring.TxMax)}))
	a := Action{
		Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
		Risk: "many drivers rebuild their rings (link down/up: a traffic blip); a longer TX ring hides queueing from the qdisc (bufferbloat)",
		Why:  fmt.Sprintf("%s TX ring %d of maximum %d fills up and pushes packets back into the qdisc, which then drops them", l.Name, cur, l.Ring.TxMax),
	}
	if !atCap {
		a.MemoryBytes = (next - cur) * int64(max(l.NumTxQ, 1)) * in.skbBytes()
	}
	o.offer(knobProposal(id, a, knob.Site{}))
}
