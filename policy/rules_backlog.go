package policy

import (
	"fmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// backlogRule: docs/rules.md rows 5 and 6 from /proc/net/softnet_stat. softnet_stat is
// host-wide and per CPU, so the findings name CPUs, not interfaces; interfaces whose
// rx_dropped moved are listed as candidates (the backlog drop also bumps the receiving
// device's rx_dropped).
func backlogRule(in *input) output {
	var totalDrops, totalFlow uint64
	for _, c := range in.d.Softnet {
		totalDrops += uint64(c.Dropped)
		totalFlow += uint64(c.FlowLimitCount)
	}
	var out output
	for _, c := range in.d.Softnet {
		out.add(backlogCPU(in, c, totalDrops), flowLimitCPU(in, c, totalFlow))
	}
	return out
}

func backlogCPU(in *input, c model.SoftnetCPU, total uint64) *obs {
	if c.Dropped == 0 {
		return nil
	}
	drops := uint64(c.Dropped)
	p := place{stage: stage.Backlog, hostWide: true, cpu: intp(c.CPU)}
	b := in.stageBase(p)
	x := in.ev(fmt.Sprintf("softnet.dropped[cpu%d]", c.CPU), drops, b, drops)
	if len(in.d.Softnet) > 1 && total > 0 {
		x.Note = fmt.Sprintf("%.0f%% of all backlog drops", 100*float64(c.Dropped)/float64(total))
	}
	if lim, ok := in.sysctlInt("net.core.netdev_max_backlog"); ok && c.BacklogLen > 0 {
		x.Note = joinNote(x.Note, fmt.Sprintf("backlog length now %d of netdev_max_backlog %d", c.BacklogLen, lim))
	}
	ev := append([]Evidence{x}, in.backlogLinks()...)
	if in.ns != "" {
		ev = append(ev, Evidence{Counter: "softnet_stat", Note: "host-wide: these drops may belong to traffic of any netns"})
	}
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: ev,
		summary: fmt.Sprintf("CPU %d refused packets into its backlog queue (netdev_max_backlog reached, or flow limit): RPS/RFS or netif_rx (veth, tun, loopback) traffic arrives faster than the CPU processes it", c.CPU)}
	o.offer(in.maxBacklog())
	return o
}

// backlogLinks lists devices whose receive drops moved: the backlog drop is also counted in
// the receiving device's rx_dropped, and a veth sender counts it in tx_dropped.
func (in *input) backlogLinks() []Evidence {
	var out []Evidence
	for i := range in.d.Links {
		l := &in.d.Links[i]
		if l.Stats.RxDropped > 0 {
			x := in.ev(l.Name+" rx_dropped", l.Stats.RxDropped, passedBase(l.Name+" rx_packets", l.Stats.RxPackets), l.Stats.RxDropped)
			x.Note = "includes backlog drops of packets this device received"
			out = append(out, x)
		}
		if virtual(l) && l.Stats.TxDropped > 0 {
			x := in.ev(l.Name+" tx_dropped", l.Stats.TxDropped, passedBase(l.Name+" tx_packets", l.Stats.TxPackets), l.Stats.TxDropped)
			x.Note = "veth sender: the peer's receive queue or backlog refused the packet"
			out = append(out, x)
		}
	}
	return out
}

func flowLimitCPU(in *input, c model.SoftnetCPU, total uint64) *obs {
	if c.FlowLimitCount == 0 {
		return nil
	}
	drops := uint64(c.FlowLimitCount)
	p := place{stage: stage.FlowLimit, hostWide: true, cpu: intp(c.CPU)}
	b := in.stageBase(p)
	x := in.ev(fmt.Sprintf("softnet.flow_limit_count[cpu%d]", c.CPU), drops, b, drops)
	x.Note = "counted on the enqueuing (IRQ) CPU"
	if len(in.d.Softnet) > 1 && total > 0 {
		x.Note += fmt.Sprintf("; %.0f%% of all flow-limit drops", 100*float64(c.FlowLimitCount)/float64(total))
	}
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: []Evidence{x},
		summary: fmt.Sprintf("flow limit dropped packets enqueued by CPU %d: one flow held more than half of a backlog that was over half full", c.CPU)}
	o.say(always("flow-limit drops mean one elephant flow dominates a CPU's backlog (or a spoofed-source flood); if many flows collide, raise net.core.flow_limit_table_len and re-write flow_limit_cpu_bitmap so the table is reallocated"))
	// The flow limit only engages above netdev_max_backlog/2: a deeper backlog raises it.
	o.offer(in.maxBacklog())
	return o
}

func (in *input) maxBacklog() proposal {
	cpus := int64(max(len(in.d.Softnet), 1))
	skb := in.skbBytes()
	return sysctlProposal(sysctlStep{
		key:  "net.core.netdev_max_backlog",
		mem:  func(cur, next int64) int64 { return (next - cur) * cpus * skb },
		risk: "a deeper per-CPU queue adds latency when it fills; memory is per CPU",
		why:  "the per-CPU backlog (RPS/RFS and netif_rx paths such as veth) overflowed; one step more depth absorbs the bursts (RH: double it; 1000 or 10000 \"performed well\")",
	})
}
