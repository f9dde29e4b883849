package policy

import (
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Settings is analysis input that is not in the Delta.
type Settings struct {
	// HostSysctls are sysctls read in the host (initial) network namespace. A child netns
	// does not show global sysctls such as net.core.netdev_max_backlog; when the Delta comes
	// from one, these supply the current value of global knobs. Nil: such knobs get Current
	// "unknown" and no proposed value.
	HostSysctls map[string]string
	// SkipFunnel leaves Report.Funnel empty (not nil): callers that read only the findings and
	// the plan, such as apply --auto, save building the per-link accounts.
	SkipFunnel bool
}

// Analyze turns one interval into a report: funnel, findings (capacity loss first) and the
// plan (docs/rules.md §4 order). cfg must be valid (Config.Validate). It is AnalyzeWith
// without host sysctls.
func Analyze(d *model.Delta, cfg Config) *Report {
	return AnalyzeWith(d, Settings{}, cfg)
}

// AnalyzeWith is Analyze with settings from outside the Delta. Every rule reads the interval
// on its own; one reconciliation step then makes one finding of each population of drops,
// decides everything that involves two rules, and the planner turns the findings into the
// plan (docs/rules.md §8).
func AnalyzeWith(d *model.Delta, s Settings, cfg Config) *Report {
	if d != nil && d.InPath != nil && d.InPath.Netns != 0 {
		dc := *d
		dc.InPath = ownDrops(d.InPath, udpSocketDrops(d))
		d = &dc
	}
	in := newInput(d, s, cfg)
	outs := make([]output, len(rules))
	for i, r := range rules {
		outs[i] = r(in)
	}
	r := reconcile(in, outs)
	r.Unmeasured = unmeasured(in.d)
	r.Funnel = []Funnel{}
	if !s.SkipFunnel {
		r.Funnel = in.funnel()
	}
	return r
}

// rules are every rule of docs/rules.md; their order does not matter.
var rules = []rule{
	nicRule, ringRule, xdpRule, backlogRule, softirqRule, distributionRule, qdiscRule,
	conntrackRule, firewallRule, l3Rule, benignRule, udpRule, sockmemRule, tcpRule, neighRule, reasonRule,
}

// unmeasured lists the core counters either sample lacks (their reader failed).
func unmeasured(d *model.Delta) []string {
	var out []string
	lacks := func(has func(*model.Sample) bool) bool {
		return d.Prev == nil || d.Cur == nil || !has(d.Prev) || !has(d.Cur)
	}
	if lacks(func(s *model.Sample) bool { return len(s.SNMP) > 0 }) {
		out = append(out, "protocol counters (/proc/net/snmp, netstat): UDP, TCP, IP and ICMP drops")
	}
	if lacks(func(s *model.Sample) bool { return len(s.Softnet) > 0 }) {
		out = append(out, "per-CPU backlog counters (/proc/net/softnet_stat): backlog and budget drops")
	}
	return out
}

// ownDrops keeps the drops of the watched namespace: the kfree_skb tracer sees every
// namespace, and another namespace's drops are not this report's loss. The UDP pool's
// refusals (PROTO_MEM) may have no namespace at all: UDP reuses skb->dev, and before 6.11
// kfree_skb names no socket. Those are claimed by socket, up to what this namespace's UDP
// sockets dropped in the interval (sockDrops): a namespace never claims more of them than
// its own sockets lost (docs/rules.md §8.4).
func ownDrops(ip *model.InPath, sockDrops uint64) *model.InPath {
	c := *ip
	c.Drops = make([]model.DropCount, 0, len(ip.Drops))
	for _, x := range ip.Drops {
		switch {
		case x.Netns == ip.Netns:
		case x.Netns == 0 && x.Ifindex == 0 && x.Reason == "PROTO_MEM" && sockDrops > 0:
			if rp, ok := placeOfReason(x.Reason, x.Location); !ok || rp.stage != stage.UDPMem {
				continue
			}
			x.Count = min(x.Count, sockDrops)
			sockDrops -= x.Count
		default:
			continue
		}
		c.Drops = append(c.Drops, x)
	}
	return &c
}

// udpSocketDrops is what the sampled UDP sockets dropped in the interval.
func udpSocketDrops(d *model.Delta) uint64 {
	var n uint64
	for _, s := range d.UDPSockets {
		n += s.Drops
	}
	return n
}
