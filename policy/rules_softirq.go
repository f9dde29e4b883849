package policy

import (
	"fmt"

	"github.com/nettune/nettune/model/stage"
)

// softirqRule: docs/rules.md row 4. time_squeeze is pressure; whether the squeezed CPU also
// serves ring or FIFO loss, which makes it capacity loss with the budget knobs, involves the
// ring and NIC rules' findings and is decided by reconcile (escalateBudget).
func softirqRule(in *input) output {
	var out output
	budget, okB := in.sysctlInt("net.core.netdev_budget")
	weight, okW := in.sysctlInt("net.core.dev_weight")
	lossFree := -1 // whether the host dropped nothing, computed for the first squeezed CPU
	for _, c := range in.d.Softnet {
		if c.TimeSqueeze == 0 {
			continue
		}
		n := uint64(c.TimeSqueeze)
		p := place{stage: stage.SoftirqBudget, hostWide: true, cpu: intp(c.CPU)}
		b := in.stageBase(p)
		risk := "longer softirq runs delay other tasks on that CPU (bpftune lowers the budget again when run-queue latency rises)"
		out.obs = append(out.obs, obs{place: p, source: sourceCounter, drops: n, base: b, pressure: true,
			summary:  fmt.Sprintf("NET_RX processing on CPU %d ran out of budget (packets or time) with work left", c.CPU),
			evidence: []Evidence{in.ev(fmt.Sprintf("softnet.time_squeeze[cpu%d]", c.CPU), n, b, n)},
			budget: &budgetEscalation{cpu: c.CPU, proposals: []proposal{
				sysctlProposal(sysctlStep{key: "net.core.netdev_budget", risk: risk,
					why: "NET_RX stops after netdev_budget packets; raise it together with netdev_budget_usecs (RH §2.5) so the CPU drains its rings before they overflow"}),
				sysctlProposal(sysctlStep{key: "net.core.netdev_budget_usecs", risk: risk,
					why: "NET_RX also stops after netdev_budget_usecs; raise it together with netdev_budget"}),
			}}})
		o := &out.obs[len(out.obs)-1]
		id := in.id(p)
		if okB && okW && budget < weight {
			// measured: a budget below one poll's weight cuts every backlog poll short
			o.say(always(fmt.Sprintf("%s: netdev_budget %d is below dev_weight %d, so one backlog poll's work exceeds the whole budget and every busy NET_RX run is cut short: raise net.core.netdev_budget to at least %d (the kernel's default is 300)",
				id, budget, weight, weight)))
		}
		if lossFree < 0 {
			lossFree = 0
			if !in.anyDrop() {
				lossFree = 1
			}
		}
		if lossFree == 1 {
			o.say(always(id + ": squeezes with no drop anywhere cost latency, not packets: netdev_budget is raised only when a ring or FIFO this CPU serves drops"))
		}
	}
	return out
}
