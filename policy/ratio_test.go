package policy

import (
	"math"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// ratioCase builds an interval in which drops of the reached packets were lost at one place.
type ratioCase struct {
	id    string // the finding of that place
	build func(reached, drops uint64) *model.Delta
}

func ratioCases() map[string]ratioCase {
	rx := func(reached, drops uint64) linkOpt {
		return stats(func(s *model.LinkStats) { s.RxPackets = reached - drops })
	}
	tx := func(reached, drops uint64) linkOpt {
		return stats(func(s *model.LinkStats) { s.TxPackets = reached - drops })
	}
	snmp := func(kv map[string]uint64) *model.Delta { return newDelta().snmp(kv).build() }
	fwRule := func(family, chain string, hook stage.Hook, packets uint64) *model.Firewall {
		return &model.Firewall{
			Chains: []model.FirewallChain{{Family: family, Table: "t", Name: chain, Hook: hook, Type: "filter"}},
			Rules: []model.FirewallRule{{Family: family, Table: "t", Chain: chain, Handle: 4, Expr: "udp dport 9000 counter drop",
				Drop: true, Counter: true, Packets: packets}}}
	}
	return map[string]ratioCase{
		"nic-phy": {"nic-phy/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", rx(r, d), stats(func(s *model.LinkStats) { s.RxCrcErrors = d })).build()
		}},
		"nic-fifo": {"nic-fifo/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", rx(r, d), stats(func(s *model.LinkStats) { s.RxMissedErrors = d })).build()
		}},
		"nic-fifo policy": {"nic-fifo/host/eth0/policy", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", rx(r, d), policyCounter("bw_in_allowance_exceeded", stage.NICFifo, model.Rx, d)).build()
		}},
		"rx-ring": {"rx-ring/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", rx(r, d), counter("rx_dropped", stage.RxRing, model.KindDrops, model.Rx, -1, d)).build()
		}},
		"xdp": {"xdp/host/veth0", func(r, d uint64) *model.Delta {
			return newDelta().link("veth0", veth, rx(r, d), counter("rx_queue_0_xdp_drops", stage.XDP, model.KindDrops, model.Rx, 0, d)).build()
		}},
		"foreign xdp": {"xdp/host/veth0", func(r, d uint64) *model.Delta {
			return newDelta().link("veth0", veth).inPath(&model.InPath{
				Points:  append(pts("veth0", model.PointXDP, r), pts("veth0", model.PointTCIngress, r-d)...),
				Foreign: []model.ForeignProg{{Link: "veth0", Hook: "xdp", ID: 7, Name: "fw"}}}).build()
		}},
		"tc-ingress": {"tc-ingress/host/eth0", func(r, d uint64) *model.Delta {
			// the driver counted every packet before tc ingress dropped some
			return newDelta().link("eth0", stats(func(s *model.LinkStats) { s.RxPackets = r }),
				qdisc(model.Qdisc{Kind: "clsact", Handle: "ffff:", Parent: "ingress", Drops: d})).build()
		}},
		"backlog": {"backlog/host/cpu1", func(r, d uint64) *model.Delta {
			return newDelta().softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = uint32(r-d), uint32(d) }).build()
		}},
		"flow-limit": {"flow-limit/host/cpu0", func(r, d uint64) *model.Delta {
			return newDelta().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.FlowLimitCount = uint32(r-d), uint32(d) }).build()
		}},
		"softirq-budget": {"softirq-budget/host/cpu0", func(r, d uint64) *model.Delta {
			// squeezes are runs cut short: the share is of the runs
			return newDelta().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.TimeSqueeze = 1e6, uint32(d) }).netRx(r, r).build()
		}},
		"conntrack full": {"netfilter/host/conntrack", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).conntrack(262144, 262144, map[string]uint64{"drop": d}).build()
		}},
		"conntrack insert": {"netfilter/host/conntrack-insert", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).conntrack(10, 262144, map[string]uint64{"insert_failed": d}).build()
		}},
		"conntrack invalid": {"netfilter/host/conntrack-invalid", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).conntrack(10, 262144, map[string]uint64{"invalid": d}).build()
		}},
		"firewall reason, no ruleset read": {"netfilter/host", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).
				inPath(&model.InPath{Drops: []model.DropCount{{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: d}}}).build()
		}},
		"firewall input rule": {"netfilter/host/input", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).firewall(fwRule("ip", "input", stage.HookInput, d)).build()
		}},
		"firewall output rule": {"netfilter/host/output", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip6.OutRequests": r}).firewall(fwRule("ip6", "output", stage.HookOutput, d)).build()
		}},
		"firewall reason": {"netfilter/host/input", func(r, d uint64) *model.Delta {
			fw := fwRule("inet", "input", stage.HookInput, 0)
			fw.Rules[0].Counter = false
			return newDelta().snmp(map[string]uint64{"Ip.InReceives": r}).firewall(fw).
				inPath(&model.InPath{Drops: []model.DropCount{{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: d}}}).build()
		}},
		"ip headers": {"ip/host/headers", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.InReceives": r, "Ip.InHdrErrors": d})
		}},
		"ip routing": {"ip/host/routing", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.InReceives": r, "IpExt.InNoRoutes": d})
		}},
		"rp_filter": {"ip/host/rp-filter", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.InReceives": r, "TcpExt.IPReversePathFilter": d})
		}},
		"unknown protocol": {"ip/host/noproto", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.InReceives": r, "Ip.InUnknownProtos": d})
		}},
		"ip-reassembly": {"ip-reassembly/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.ReasmReqds": r, "Ip.ReasmFails": d})
		}},
		"ip-reassembly ipv6": {"ip-reassembly/host/ipv6", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip6.ReasmReqds": r, "Ip6.ReasmFails": d})
		}},
		"socket-lookup": {"socket-lookup/host/udp", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Udp.InDatagrams": r - d, "Udp.NoPorts": d})
		}},
		"udp-rcvbuf": {"udp-rcvbuf/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Udp.InDatagrams": r - d, "Udp.RcvbufErrors": d})
		}},
		"udp-mem": {"udp-mem/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Udp.InDatagrams": r - d, "Udp.MemErrors": d})
		}},
		"tcp-rcvbuf": {"tcp-rcvbuf/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Tcp.InSegs": r, "TcpExt.TCPRcvQDrop": d})
		}},
		"tcp-backlog": {"tcp-backlog/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Tcp.InSegs": r, "TcpExt.TCPBacklogDrop": d})
		}},
		"tcp-accept-queue": {"tcp-accept-queue/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Tcp.PassiveOpens": r - d, "TcpExt.ListenOverflows": d, "TcpExt.ListenDrops": d})
		}},
		"udp-sndbuf": {"udp-sndbuf/host", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Udp.OutDatagrams": r - d, "Udp.SndbufErrors": d})
		}},
		"ip-out": {"ip-out/host/routing", func(r, d uint64) *model.Delta {
			return snmp(map[string]uint64{"Ip.OutRequests": r - d, "Ip.OutNoRoutes": d})
		}},
		"neigh": {"neigh/host/queue", func(r, d uint64) *model.Delta {
			return newDelta().snmp(map[string]uint64{"Ip.OutRequests": r}).inPath(&model.InPath{Drops: []model.DropCount{
				{Reason: "NEIGH_QUEUEFULL", Location: "__neigh_event_send+0x1", Count: d}}}).build()
		}},
		"qdisc": {"qdisc/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", qdisc(model.Qdisc{Kind: "pfifo", Handle: "1:", Root: true, Limit: 10, Packets: r - d, Drops: d})).build()
		}},
		"qdisc shaper": {"qdisc/host/eth0/shaper", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", qdisc(model.Qdisc{Kind: "tbf", Handle: "1:", Root: true, Packets: r - d, Drops: d})).build()
		}},
		"qdisc aqm": {"qdisc/host/eth0/aqm", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", qdisc(model.Qdisc{Kind: "fq_codel", Handle: "1:", Root: true, Limit: 10240, Packets: r - d, Drops: d})).build()
		}},
		"qdisc netem": {"qdisc/host/eth0/netem", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", qdisc(model.Qdisc{Kind: "netem", Handle: "1:", Root: true, Packets: r - d, Drops: d})).build()
		}},
		"qdisc reason only": {"qdisc/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", tx(r, d)).inPath(&model.InPath{Drops: []model.DropCount{
				{Reason: "QDISC_DROP", Link: "eth0", Location: "__dev_queue_xmit+0x1", Count: d}}}).build()
		}},
		"tx-ring": {"tx-ring/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", tx(r, d), counter("tx_ring_drops", stage.TxRing, model.KindDrops, model.Tx, -1, d)).build()
		}},
		"nic-tx": {"nic-tx/host/eth0", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", tx(r, d), stats(func(s *model.LinkStats) { s.TxCarrierErrors = d })).build()
		}},
		"nic-tx policy": {"nic-tx/host/eth0/policy", func(r, d uint64) *model.Delta {
			return newDelta().link("eth0", tx(r, d), policyCounter("bw_out_allowance_exceeded", stage.NICTx, model.Tx, d)).build()
		}},
	}
}

// TestRatios: every finding's ratio is drops ÷ the traffic that reached its stage, defined
// once per stage (stageBase): no loss is no finding, half is 0.5 and all is 1 — a firewall
// dropping every datagram that reached IP reads 100 %, not 50 % (issue 12, case 3).
func TestRatios(t *testing.T) {
	const reached = 20000
	for name, tc := range ratioCases() {
		t.Run(name, func(t *testing.T) {
			if r := analyze(t, tc.build(reached, 0), DefaultConfig()); len(r.Findings) != 0 {
				t.Errorf("no loss: findings %+v", r.Findings)
			}
			for _, share := range []float64{0.5, 1} {
				r := analyze(t, tc.build(reached, uint64(share*reached)), DefaultConfig())
				f := byID(r, tc.id)
				if f == nil {
					t.Fatalf("%.0f %%: no finding %s in %+v", 100*share, tc.id, r.Findings)
				}
				if math.Abs(f.Ratio-share) > 1e-9 {
					t.Errorf("%.0f %%: ratio %v", 100*share, f.Ratio)
				}
			}
		})
	}
}

func byID(r *Report, id string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].ID == id {
			return &r.Findings[i]
		}
	}
	return nil
}

func policyCounter(name string, st stage.Stage, dir model.Dir, v uint64) linkOpt {
	return func(l *model.Link) {
		l.Counters = append(l.Counters, model.Counter{Name: name, Stage: st, Policy: true, Kind: model.KindDrops, Dir: dir, Queue: -1, Value: v})
	}
}
