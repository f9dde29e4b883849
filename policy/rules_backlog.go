package policy

import (
	"fmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// backlogRules: docs/rules.md rows 5 and 6 from /proc/net/softnet_stat. softnet_stat is host-wide
// and per CPU, so the findings name CPUs, not interfaces; interfaces whose rx_dropped moved
// are listed as candidates (the backlog drop also bumps the receiving device's rx_dropped).
func backlogRules(e *engine) {
	var totalDrops, totalFlow uint64
	for _, c := range e.d.Softnet {
		totalDrops += uint64(c.Dropped)
		totalFlow += uint64(c.FlowLimitCount)
	}
	for _, c := range e.d.Softnet {
		backlogCPU(e, c, totalDrops)
		flowLimitCPU(e, c, totalFlow)
	}
}

func backlogCPU(e *engine, c model.SoftnetCPU, total uint64) {
	if c.Dropped == 0 {
		return
	}
	of := fmt.Sprintf("softnet.processed[cpu%d]", c.CPU)
	x := e.ev(fmt.Sprintf("softnet.dropped[cpu%d]", c.CPU), uint64(c.Dropped), of, uint64(c.Processed))
	if len(e.d.Softnet) > 1 && total > 0 {
		x.Note = fmt.Sprintf("%.0f%% of all backlog drops", 100*float64(c.Dropped)/float64(total))
	}
	if lim, ok := e.sysctlInt("net.core.netdev_max_backlog"); ok && c.BacklogLen > 0 {
		x.Note = joinNote(x.Note, fmt.Sprintf("backlog length now %d of netdev_max_backlog %d", c.BacklogLen, lim))
	}
	ev := []Evidence{x}
	ev = append(ev, e.backlogLinks()...)
	f := e.add(obs{stage: stage.Backlog, hostWide: true, cpu: intp(c.CPU), drops: uint64(c.Dropped), through: uint64(c.Processed), of: of,
		summary:  fmt.Sprintf("CPU %d refused packets into its backlog queue (netdev_max_backlog reached, or flow limit): RPS/RFS or netif_rx (veth, tun, loopback) traffic arrives faster than the CPU processes it", c.CPU),
		evidence: ev})
	if f == nil {
		return
	}
	if e.ns != "" {
		f.Evidence = append(f.Evidence, Evidence{Counter: "softnet_stat", Note: "host-wide: these drops may belong to traffic of any netns"})
	}
	e.proposeMaxBacklog(f)
}

// backlogLinks lists devices whose receive drops moved: the backlog drop is also counted in
// the receiving device's rx_dropped, and a veth sender counts it in tx_dropped.
func (e *engine) backlogLinks() []Evidence {
	var out []Evidence
	for i := range e.d.Links {
		l := &e.d.Links[i]
		if l.Stats.RxDropped > 0 {
			x := e.ev(l.Name+" rx_dropped", l.Stats.RxDropped, l.Name+" rx_packets", l.Stats.RxPackets)
			x.Note = "includes backlog drops of packets this device received"
			out = append(out, x)
		}
		if virtual(l) && l.Stats.TxDropped > 0 {
			x := e.ev(l.Name+" tx_dropped", l.Stats.TxDropped, l.Name+" tx_packets", l.Stats.TxPackets)
			x.Note = "veth sender: the peer's receive queue or backlog refused the packet"
			out = append(out, x)
		}
	}
	return out
}

func flowLimitCPU(e *engine, c model.SoftnetCPU, total uint64) {
	if c.FlowLimitCount == 0 {
		return
	}
	of := fmt.Sprintf("softnet.processed[cpu%d]", c.CPU)
	x := e.ev(fmt.Sprintf("softnet.flow_limit_count[cpu%d]", c.CPU), uint64(c.FlowLimitCount), of, uint64(c.Processed))
	x.Note = "counted on the enqueuing (IRQ) CPU"
	if len(e.d.Softnet) > 1 && total > 0 {
		x.Note += fmt.Sprintf("; %.0f%% of all flow-limit drops", 100*float64(c.FlowLimitCount)/float64(total))
	}
	f := e.add(obs{stage: stage.FlowLimit, hostWide: true, cpu: intp(c.CPU), drops: uint64(c.FlowLimitCount), through: uint64(c.Processed), of: of,
		summary:  fmt.Sprintf("flow limit dropped packets enqueued by CPU %d: one flow held more than half of a backlog that was over half full", c.CPU),
		evidence: []Evidence{x}})
	if f == nil {
		return
	}
	e.addAdvice("flow-limit drops mean one elephant flow dominates a CPU's backlog (or a spoofed-source flood); if many flows collide, raise net.core.flow_limit_table_len and re-write flow_limit_cpu_bitmap so the table is reallocated")
	// The flow limit only engages above netdev_max_backlog/2: a deeper backlog raises it.
	e.proposeMaxBacklog(f)
}

func (e *engine) proposeMaxBacklog(f *Finding) {
	cpus := int64(max(len(e.d.Softnet), 1))
	skb := e.skbBytes()
	e.proposeSysctl(f, sysctlStep{
		key:  "net.core.netdev_max_backlog",
		mem:  func(cur, next int64) int64 { return (next - cur) * cpus * skb },
		risk: "a deeper per-CPU queue adds latency when it fills; memory is per CPU",
		why:  "the per-CPU backlog (RPS/RFS and netif_rx paths such as veth) overflowed; one step more depth absorbs the bursts (RH: double it; 1000 or 10000 \"performed well\")",
	})
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
