package policy

import (
	"fmt"

	"github.com/nettune/nettune/model/stage"
)

// softirqRules: docs/rules.md row 4. time_squeeze is pressure; it is capacity loss evidence only
// when the same CPU also serves a queue with ring or FIFO drops.
func softirqRules(e *engine) {
	lossCPUs, unknown := e.rxLossCPUs()
	for _, c := range e.d.Softnet {
		if c.TimeSqueeze == 0 {
			continue
		}
		through, of := uint64(c.Processed), fmt.Sprintf("softnet.processed[cpu%d]", c.CPU)
		if c.CPU < len(e.d.NetRx) {
			through, of = e.d.NetRx[c.CPU], fmt.Sprintf("softirqs.NET_RX[cpu%d]", c.CPU)
		}
		coincident := lossCPUs[c.CPU] || unknown
		x := e.ev(fmt.Sprintf("softnet.time_squeeze[cpu%d]", c.CPU), uint64(c.TimeSqueeze), of, through)
		// a squeeze is one NET_RX run cut short: the share is of the runs, not of runs + squeezes
		x.Ratio = share(uint64(c.TimeSqueeze), through)
		summary := fmt.Sprintf("NET_RX processing on CPU %d ran out of budget (packets or time) with work left", c.CPU)
		if coincident {
			summary += ", while queues it serves dropped packets in the ring or NIC FIFO"
			if !lossCPUs[c.CPU] {
				x.Note = "ring/FIFO drops on a link whose queue IRQs are not known: CPU attribution assumed"
			}
		} else {
			summary += " (pressure only: no ring or FIFO drops on this CPU)"
		}
		f := e.add(obs{stage: stage.SoftirqBudget, hostWide: true, cpu: intp(c.CPU), drops: uint64(c.TimeSqueeze),
			through: through - min(through, uint64(c.TimeSqueeze)), of: of, pressure: !coincident,
			summary: summary, evidence: []Evidence{x}})
		if f == nil {
			continue
		}
		f.DropRate = 0 // squeezes are not packets
		if !coincident {
			continue
		}
		risk := "longer softirq runs delay other tasks on that CPU (bpftune lowers the budget again when run-queue latency rises)"
		e.proposeSysctl(f, sysctlStep{key: "net.core.netdev_budget", risk: risk,
			why: "NET_RX stops after netdev_budget packets; raise it together with netdev_budget_usecs (RH §2.5) so the CPU drains its rings before they overflow"})
		e.proposeSysctl(f, sysctlStep{key: "net.core.netdev_budget_usecs", risk: risk,
			why: "NET_RX also stops after netdev_budget_usecs; raise it together with netdev_budget"})
	}
}

// rxLossCPUs returns the CPUs whose queue interrupts belong to links with actionable ring or
// FIFO loss; unknown is set when such a link has no interrupt information.
func (e *engine) rxLossCPUs() (map[int]bool, bool) {
	cpus := map[int]bool{}
	unknown := false
	for _, f := range e.findings(func(f *Finding) bool {
		return actionable(f) && (f.Stage == stage.RxRing || f.Stage == stage.NICFifo)
	}) {
		found := false
		for _, q := range e.d.Interrupts {
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

func share(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
