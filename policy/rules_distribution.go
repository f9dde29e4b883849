package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// distributionRules: docs/rules.md row 3. When receive loss on a link comes with NET_RX work
// concentrated on one CPU while others idle, spreading the work comes before any buffer:
// more channels (hardware RSS), queue IRQs on distinct CPUs, or RPS for a queue that has it off.
// It runs last because it answers loss findings of the other rules.
func distributionRules(e *engine) {
	cpus := e.onlineCPUs()
	if len(cpus) < 2 {
		return
	}
	load, loadName := e.cpuLoad(cpus)
	busy, skewed, note := e.skew(cpus, load, loadName)
	device, hostWide := e.rxLossIndex()
	for i := range e.d.Links {
		l := &e.d.Links[i]
		fs := device[l.Name]
		if len(hostWide) > 0 && e.backlogHere(l) {
			fs = append(fs, hostWide...)
		}
		if len(fs) == 0 {
			continue
		}
		if skewed {
			for _, f := range fs {
				f.Evidence = append(f.Evidence, Evidence{Counter: loadName, Delta: load[busy], Rate: e.rate(load[busy]), Note: note})
			}
		}
		irqs := e.queueIRQs(l)
		spreadIRQs(e, l, irqs, cpus, fs)
		if !skewed {
			continue
		}
		if c := l.Channels; !virtual(l) && c != nil && c.Combined > 0 && c.Combined < c.MaxCombined && int(c.Combined) < len(cpus) {
			proposeChannels(e, l, len(cpus), busy, fs)
			continue
		}
		if rxQueueCount(l) >= len(cpus) {
			continue // RPS is "probably redundant" with a queue per CPU [S]
		}
		proposeRPS(e, l, irqs, cpus, busy, fs)
	}
}

// rxLossIndex collects the capacity findings on the receive path that spreading can relieve:
// ring and FIFO drops per interface, and the host-wide backlog and budget findings.
func (e *engine) rxLossIndex() (device map[string][]*Finding, hostWide []*Finding) {
	device = map[string][]*Finding{}
	for _, f := range e.findings(actionable) {
		switch f.Stage {
		case stage.NICFifo, stage.RxRing:
			device[f.Interface] = append(device[f.Interface], f)
		case stage.Backlog, stage.SoftirqBudget:
			hostWide = append(hostWide, f)
		}
	}
	return device, hostWide
}

// backlogHere: backlog drops concern l when its rx_dropped moved (a backlog drop also counts
// there) or a CPU_BACKLOG drop reason names it.
func (e *engine) backlogHere(l *model.Link) bool {
	if l.Stats.RxDropped > 0 {
		return true
	}
	if ip := e.d.InPath; ip != nil {
		for _, dc := range ip.Drops {
			if dc.Reason == "CPU_BACKLOG" && (dc.Link == l.Name || e.linkName(dc.Ifindex) == l.Name) {
				return true
			}
		}
	}
	return false
}

func (e *engine) onlineCPUs() []int {
	var cpus []int
	for _, c := range e.d.Softnet {
		cpus = append(cpus, c.CPU)
	}
	if len(cpus) == 0 {
		for i := 0; i < e.cur.NCPU; i++ {
			cpus = append(cpus, i)
		}
	}
	sort.Ints(cpus)
	return cpus
}

// cpuLoad is NET_RX softirqs per CPU, or packets processed when /proc/softirqs is missing.
func (e *engine) cpuLoad(cpus []int) (map[int]uint64, string) {
	load := map[int]uint64{}
	if len(e.d.NetRx) > 0 {
		for _, c := range cpus {
			if c < len(e.d.NetRx) {
				load[c] = e.d.NetRx[c]
			}
		}
		return load, "softirqs.NET_RX"
	}
	for _, c := range e.d.Softnet {
		load[c.CPU] = uint64(c.Processed)
	}
	return load, "softnet.processed"
}

// skew: the busiest CPU is skewed when it does more than SkewFactor × the mean of the other
// CPUs (the mean of the others, not of all, so that two CPUs can show skew too).
func (e *engine) skew(cpus []int, load map[int]uint64, name string) (busy int, skewed bool, note string) {
	var total uint64
	busy = cpus[0]
	for _, c := range cpus {
		total += load[c]
		if load[c] > load[busy] {
			busy = c
		}
	}
	if load[busy] == 0 {
		return busy, false, ""
	}
	others := float64(total-load[busy]) / float64(len(cpus)-1)
	skewed = float64(load[busy]) > e.cfg.Thresholds.SkewFactor*others
	note = fmt.Sprintf("%s: CPU %d does %.0f%% of the work; the other CPUs average %.0f/s", name, busy,
		100*float64(load[busy])/float64(total), e.rate(uint64(others)))
	return busy, skewed, note
}

// queueIRQs are l's receive-queue interrupts, by queue.
func (e *engine) queueIRQs(l *model.Link) []model.IRQ {
	var out []model.IRQ
	for _, q := range e.d.Interrupts {
		if q.Link == l.Name && q.Queue >= 0 && q.Dir != model.Tx {
			out = append(out, q)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out
}

// irqCPU is the CPU that served most of an interrupt's events this interval.
func irqCPU(q model.IRQ) (int, bool) { return busiest(q.PerCPU) }

// spreadIRQs moves queue interrupts that share a CPU to CPUs serving none of l's queues.
func spreadIRQs(e *engine, l *model.Link, irqs []model.IRQ, cpus []int, fs []*Finding) {
	used := map[int]bool{}
	var crowded []model.IRQ
	for _, q := range irqs {
		c, ok := irqCPU(q)
		if !ok {
			continue
		}
		if used[c] {
			crowded = append(crowded, q)
		}
		used[c] = true
	}
	var free []int
	for _, c := range cpus {
		if !used[c] {
			free = append(free, c)
		}
	}
	for i, q := range crowded {
		if i >= len(free) {
			break
		}
		target := free[i]
		switch {
		case e.cur.IRQBalance:
			e.addAdvice(fmt.Sprintf("%s: queue IRQs share CPUs while CPU %d serves none, but irqbalance is running and may override manual affinity: ban these IRQs (--banirq) or stop irqbalance, then spread them", l.Name, target))
			return
		case q.Managed:
			e.addAdvice(fmt.Sprintf("%s: IRQ %d (queue %d) is kernel-managed: its affinity cannot be changed; use more channels or RPS instead", l.Name, q.IRQ, q.Queue))
			continue
		}
		cur := q.Affinity
		if cur == "" {
			cur = "unknown"
		}
		id := knob.ID{Kind: knob.IRQAffinity, IRQ: uint32(q.IRQ)}
		a := Action{
			Current: cur, Proposed: strconv.Itoa(target),
			Risk: "moves interrupt work to that CPU; irqbalance, if started later, may move it back",
			Why:  fmt.Sprintf("%s queue %d interrupt (IRQ %d) shares a CPU with another queue of the link while CPU %d serves none", l.Name, q.Queue, q.IRQ, target),
		}
		for _, f := range fs {
			e.propose(f, id, a)
		}
	}
}

func proposeChannels(e *engine, l *model.Link, ncpu, busy int, fs []*Finding) {
	c := l.Channels
	cur := int64(c.Combined)
	id := knob.ID{Kind: knob.Channels, Iface: l.Name}
	next, atCap := e.step(cur, e.limit(id, knob.Bound{DriverMax: int64(min(int(c.MaxCombined), ncpu))}))
	a := Action{
		Current: strconv.FormatInt(cur, 10), Proposed: strconv.FormatInt(next, 10), AtCap: atCap,
		Risk: "re-creates the channels (a traffic blip); every extra queue adds interrupts, and irqbalance or a manual affinity must place the new IRQs",
		Why:  fmt.Sprintf("receive work concentrates on CPU %d while %s has %d of %d possible channels: more RSS queues spread it in hardware", busy, l.Name, cur, c.MaxCombined),
	}
	for _, f := range fs {
		e.propose(f, id, a)
	}
}

// proposeRPS turns RPS on for queues that have it off: all online CPUs except the one that
// takes the queue's interrupt (or, without IRQ data, the busy CPU). irqbalance does not touch
// rps_cpus, so it does not block this.
func proposeRPS(e *engine, l *model.Link, irqs []model.IRQ, cpus []int, busy int, fs []*Finding) {
	if len(l.RxQueues) == 0 {
		e.r.Missing = appendOnce(e.r.Missing, l.Name+": RPS settings (queues/rx-*/rps_cpus) not read")
		return
	}
	irqOf := map[int]int{}
	for _, q := range irqs {
		if c, ok := irqCPU(q); ok {
			irqOf[q.Queue] = c
		}
	}
	pk := queuePackets(l, model.Rx)
	for _, rq := range l.RxQueues {
		if !zeroMask(rq.RPSCPUs) {
			continue
		}
		exclude, ok := irqOf[rq.Queue]
		switch {
		case ok && exclude != busy:
			continue // this queue's interrupts are not on the busy CPU
		case !ok && len(irqOf) > 0:
			continue // other queues have IRQs on record, this one took none
		case !ok && len(pk) > 0 && pk[rq.Queue] == 0 && slices.Max(slices.Collect(maps.Values(pk))) > 0:
			continue // idle queue (all zero is no data: veth counts per queue only in NAPI mode)
		case !ok:
			exclude = busy
		}
		var target []int
		for _, c := range cpus {
			if c != exclude {
				target = append(target, c)
			}
		}
		id := knob.ID{Kind: knob.RPS, Iface: l.Name, Queue: uint32(rq.Queue)}
		a := Action{
			Current: rq.RPSCPUs, Proposed: cpuMask(target),
			Risk: "each steered packet costs an inter-processor interrupt; one flow still lands on one CPU",
			Why: fmt.Sprintf("%s rx-%d has RPS off and its receive work lands on CPU %d while other CPUs idle: RPS hands protocol processing to CPUs %s",
				l.Name, rq.Queue, exclude, cpuList(target)),
		}
		for _, f := range fs {
			e.propose(f, id, a)
		}
	}
}

// zeroMask: sysfs prints masks as comma-separated 32-bit hex groups; all zero = RPS off.
func zeroMask(s string) bool {
	return strings.Trim(strings.TrimSpace(s), "0,") == ""
}

// cpuMask formats CPUs as a hex mask as rps_cpus accepts it: 32-bit groups, highest first,
// separated by commas.
func cpuMask(cpus []int) string {
	top := 0
	for _, c := range cpus {
		top = max(top, c)
	}
	groups := make([]uint32, top/32+1)
	for _, c := range cpus {
		groups[c/32] |= 1 << (c % 32)
	}
	var b strings.Builder
	for i := len(groups) - 1; i >= 0; i-- {
		if i == len(groups)-1 {
			fmt.Fprintf(&b, "%x", groups[i])
		} else {
			fmt.Fprintf(&b, ",%08x", groups[i])
		}
	}
	return b.String()
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}
