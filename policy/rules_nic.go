package policy

import (
	"fmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// nicRules: docs/rules.md row 1 (NIC FIFO / port buffer), physical-layer errors and NIC TX errors,
// plus any other stage a driver counter is tagged with that no specific rule reads.
func nicRules(e *engine) {
	for i := range e.d.Links {
		l := &e.d.Links[i]
		nicPhy(e, l)
		nicFifo(e, l)
		nicTx(e, l)
		otherDeviceStages(e, l)
	}
}

func nicPhy(e *engine, l *model.Link) {
	s := l.Stats
	rt := s.RxCrcErrors + s.RxFrameErrors + s.RxLengthErrors
	drv, _ := stageDrops(l, stage.NICPhy)
	drops := max(rt, drv)
	if drops == 0 {
		return
	}
	of := l.Name + " rx_packets"
	ev := e.nonZero([]Evidence{
		e.ev(l.Name+" rx_crc_errors", s.RxCrcErrors, of, s.RxPackets),
		e.ev(l.Name+" rx_frame_errors", s.RxFrameErrors, of, s.RxPackets),
		e.ev(l.Name+" rx_length_errors", s.RxLengthErrors, of, s.RxPackets),
	})
	ev = append(ev, e.counterEvidence(l, stage.NICPhy, model.KindDrops, of, s.RxPackets)...)
	f := e.add(obs{stage: stage.NICPhy, iface: l.Name, drops: drops, through: s.RxPackets, of: of,
		summary:  fmt.Sprintf("%s receives corrupt frames (CRC/frame/length errors): check cabling, optics, the link partner and FEC, not tuning", l.Name),
		evidence: ev})
	if f != nil {
		e.addAdvice(l.Name + ": physical-layer receive errors are not fixed by tuning: check cable/optics, link partner, FEC and duplex")
	}
}

func nicFifo(e *engine, l *model.Link) {
	s := l.Stats
	// rx_fifo/rx_over "may not correspond one-to-one with dropped packets" [L]: count them
	// only when the device does not report rx_missed_errors.
	rt := s.RxMissedErrors
	if rt == 0 {
		rt = s.RxFifoErrors + s.RxOverErrors
	}
	drv, perQ := stageDrops(l, stage.NICFifo)
	drops := max(rt, drv)
	if drops == 0 {
		return
	}
	of := l.Name + " rx_packets"
	ev := e.nonZero([]Evidence{
		e.ev(l.Name+" rx_missed_errors", s.RxMissedErrors, of, s.RxPackets),
		e.ev(l.Name+" rx_fifo_errors", s.RxFifoErrors, of, s.RxPackets),
		e.ev(l.Name+" rx_over_errors", s.RxOverErrors, of, s.RxPackets),
	})
	ev = append(ev, e.counterEvidence(l, stage.NICFifo, model.KindDrops, of, s.RxPackets)...)
	qev, q := e.queueSkew(l, perQ, model.Rx)
	ev = append(ev, qev...)
	f := e.add(obs{stage: stage.NICFifo, iface: l.Name, drops: drops, through: s.RxPackets, of: of,
		summary:  fmt.Sprintf("%s drops frames in the NIC's FIFO/port buffer: the host does not drain the NIC fast enough", l.Name),
		evidence: ev})
	if f == nil {
		return
	}
	f.Queue = q
	e.addAdvice(l.Name + ": NIC FIFO drops with idle CPUs point at PCIe bandwidth, NUMA placement or firmware rather than buffers; lowering interrupt coalescing (ethtool -C rx-usecs) drains sooner")
	e.proposeRxRing(f, l)
}

func nicTx(e *engine, l *model.Link) {
	s := l.Stats
	rt := s.TxFifoErrors + s.TxCarrierErrors + s.TxAbortedErrors
	if !virtual(l) {
		rt += s.TxDropped
	}
	drv, _ := stageDrops(l, stage.NICTx)
	drops := max(rt, drv)
	if drops == 0 {
		return
	}
	of := l.Name + " tx_packets"
	ev := e.nonZero([]Evidence{
		e.ev(l.Name+" tx_fifo_errors", s.TxFifoErrors, of, s.TxPackets),
		e.ev(l.Name+" tx_carrier_errors", s.TxCarrierErrors, of, s.TxPackets),
		e.ev(l.Name+" tx_aborted_errors", s.TxAbortedErrors, of, s.TxPackets),
	})
	if !virtual(l) {
		ev = append(ev, e.nonZero([]Evidence{e.ev(l.Name+" tx_dropped", s.TxDropped, of, s.TxPackets)})...)
	}
	ev = append(ev, e.counterEvidence(l, stage.NICTx, model.KindDrops, of, s.TxPackets)...)
	f := e.add(obs{stage: stage.NICTx, iface: l.Name, drops: drops, through: s.TxPackets, of: of,
		summary:  fmt.Sprintf("%s loses packets in the NIC's transmit path (carrier/FIFO/aborted errors or driver TX drops): check link, pause frames and cabling", l.Name),
		evidence: ev})
	if f != nil {
		e.addAdvice(l.Name + ": transmit errors point at the link (carrier, pause, cabling) or DMA mapping failures, not at buffer sizes")
	}
}

// handledStage: a specific rule reads the driver counters of these stages.
func handledStage(s stage.Stage) bool {
	switch s {
	case stage.NICPhy, stage.NICFifo, stage.NICTx, stage.RxRing, stage.TxRing, stage.XDP:
		return true
	}
	return false
}

// otherDeviceStages reports driver drop counters tagged with any other stage (a policer, a
// steering miss, software RX drops) with that stage's class and no knob: nettune has no
// remedy to propose for them.
func otherDeviceStages(e *engine, l *model.Link) {
	var seen map[stage.Stage]bool
	for i := range l.Counters {
		st := l.Counters[i].Stage
		if handledStage(st) || seen[st] || !st.Valid() {
			continue
		}
		if seen == nil {
			seen = map[stage.Stage]bool{}
		}
		seen[st] = true
		drops, perQ := stageDrops(l, st)
		events := counterSum(l, st, model.KindEvents, allQueues)
		if drops == 0 && events == 0 {
			continue
		}
		through, of, dir := l.Stats.RxPackets, l.Name+" rx_packets", model.Rx
		if st.Transmit() {
			through, of, dir = l.Stats.TxPackets, l.Name+" tx_packets", model.Tx
		}
		if drops > 0 {
			ev := e.counterEvidence(l, st, model.KindDrops, of, through)
			qev, q := e.queueSkew(l, perQ, dir)
			if f := e.add(obs{stage: st, iface: l.Name, drops: drops, through: through, of: of,
				summary:  fmt.Sprintf("%s driver counters report drops at stage %s", l.Name, st),
				evidence: append(ev, qev...)}); f != nil {
				f.Queue = q
			}
		}
		if events > 0 {
			e.add(obs{stage: st, iface: l.Name, drops: events, through: through, of: of, pressure: true,
				summary:  fmt.Sprintf("%s driver reports pressure events at stage %s (not loss by themselves)", l.Name, st),
				evidence: e.counterEvidence(l, st, model.KindEvents, of, through)})
		}
	}
}

func (e *engine) nonZero(xs []Evidence) []Evidence {
	out := xs[:0]
	for _, x := range xs {
		if x.Delta > 0 {
			out = append(out, x)
		}
	}
	return out
}
