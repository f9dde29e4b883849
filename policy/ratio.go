package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// base is the denominator of a ratio: the traffic that reached a stage, from one throughput
// counter (docs/rules.md §3.2). Every stage's base is defined once, in stageBase.
type base struct {
	of string // the counter, as evidence names it ("Udp.InDatagrams")
	n  uint64 // its difference over the interval
	// passed: the counter counts what left the stage, so the drops are not in it and n +
	// drops reached the stage. Otherwise n counted every packet that reached it, the dropped
	// ones included.
	passed bool
	known  bool // the counter was read; without it a finding is graded by rate alone
}

// reached is the traffic that reached the stage when drops were lost there.
func (b base) reached(drops uint64) uint64 {
	if b.passed {
		return b.n + drops
	}
	return max(b.n, drops) // a counter read a moment apart from the drops may trail them
}

// ratio is drops ÷ the traffic that reached the stage: 0 at no loss, 1 at total loss.
func (b base) ratio(drops uint64) float64 {
	r := b.reached(drops)
	if !b.known || r == 0 {
		return 0
	}
	return float64(drops) / float64(r)
}

func passedBase(of string, n uint64) base  { return base{of: of, n: n, passed: true, known: true} }
func reachedBase(of string, n uint64) base { return base{of: of, n: n, known: true} }

// snmpBase is a base from SNMP counters summed; known when the first one was read.
func (in *input) snmpBase(of string, passed bool, keys ...string) base {
	b := base{of: of, passed: passed}
	for i, k := range keys {
		v, ok := in.d.SNMP[k]
		if i == 0 {
			b.known = ok
		}
		b.n += v
	}
	return b
}

// stageBase is the one definition of each stage's denominator (docs/rules.md §3.2). p says
// where: the link of device stages, the CPU of per-CPU stages, and the part of a stage whose
// traffic differs (the protocol at socket-lookup, the family at ip-reassembly, the hook at
// netfilter). Rules with a more specific count of what reached them (a qdisc group's sent
// packets) build their base from the same kind of counter.
func (in *input) stageBase(p place) base {
	switch s := p.stage; s {
	case stage.NICPhy, stage.NICFifo, stage.RxRing, stage.XDP, stage.TCIngress:
		l := in.d.Link(p.iface)
		if l == nil {
			return base{}
		}
		// The driver counts rx_packets before tc ingress runs, so tc's drops are in it.
		return base{of: l.Name + " rx_packets", n: l.Stats.RxPackets, passed: s != stage.TCIngress, known: true}
	case stage.TCEgress, stage.Qdisc, stage.TxRing, stage.NICTx:
		l := in.d.Link(p.iface)
		if l == nil {
			return base{}
		}
		return passedBase(l.Name+" tx_packets", l.Stats.TxPackets)
	case stage.SoftirqBudget:
		if p.cpu == nil {
			return base{}
		}
		c := *p.cpu
		if c < len(in.d.NetRx) {
			// a squeeze is one NET_RX run cut short: the share is of the runs
			return reachedBase(fmt.Sprintf("softirqs.NET_RX[cpu%d]", c), in.d.NetRx[c])
		}
		return reachedBase(fmt.Sprintf("softnet.processed[cpu%d]", c), uint64(in.softnet(c).Processed))
	case stage.Backlog, stage.FlowLimit:
		if p.cpu == nil {
			var n uint64
			for _, c := range in.d.Softnet {
				n += uint64(c.Processed)
			}
			return base{of: "softnet.processed", n: n, passed: true, known: len(in.d.Softnet) > 0}
		}
		return passedBase(fmt.Sprintf("softnet.processed[cpu%d]", *p.cpu), uint64(in.softnet(*p.cpu).Processed))
	case stage.Netfilter:
		return in.netfilterBase(p.sub, true, true)
	case stage.IP:
		return in.snmpBase("Ip.InReceives", false, "Ip.InReceives")
	case stage.IPReassembly:
		switch p.sub {
		case "ipv6":
			return in.snmpBase("Ip6.ReasmReqds", false, "Ip6.ReasmReqds")
		case "":
			return in.snmpBase("Ip.ReasmReqds", false, "Ip.ReasmReqds")
		}
		return in.snmpBase("Ip(6).ReasmReqds", false, "Ip.ReasmReqds", "Ip6.ReasmReqds")
	case stage.SocketLookup:
		if p.sub == "tcp" {
			return in.snmpBase("Tcp.InSegs", false, "Tcp.InSegs")
		}
		// every UDP datagram looks for a socket: the delivered, those for no port, the errors
		return in.snmpBase("Udp.InDatagrams + NoPorts + InErrors", false, "Udp.InDatagrams", "Udp.NoPorts",
			"Udp.InErrors", "Udp6.InDatagrams", "Udp6.NoPorts", "Udp6.InErrors")
	case stage.UDPRcvbuf, stage.UDPMem:
		// InDatagrams counts what applications read: the drops are not in it
		return in.snmpBase("Udp.InDatagrams", true, "Udp.InDatagrams", "Udp6.InDatagrams")
	case stage.TCPRcvbuf, stage.TCPBacklog:
		return in.snmpBase("Tcp.InSegs", false, "Tcp.InSegs")
	case stage.TCPAcceptQueue:
		return in.snmpBase("Tcp.PassiveOpens", true, "Tcp.PassiveOpens")
	case stage.UDPSndbuf:
		return in.snmpBase("Udp.OutDatagrams", true, "Udp.OutDatagrams", "Udp6.OutDatagrams")
	case stage.IPOut:
		// a packet without a route never gets as far as being counted
		return in.snmpBase("Ip.OutRequests", true, "Ip.OutRequests")
	case stage.Neigh:
		return in.snmpBase("Ip(6).OutRequests", false, "Ip.OutRequests", "Ip6.OutRequests")
	}
	return base{}
}

// netfilterBase is what reaches a netfilter place: every packet passes conntrack's
// PREROUTING or OUTPUT hook; a hook's chains see what enters (prerouting, input, forward) or
// what the host sends (output, postrouting). The IP counters move before the hooks run, so
// the dropped packets are in them. v4 and v6 choose the families the rules apply to.
func (in *input) netfilterBase(part string, v4, v6 bool) base {
	fields := []string{"InReceives"}
	switch {
	case strings.HasPrefix(part, "conntrack"):
		fields = []string{"InReceives", "OutRequests"}
	case stage.Hook(part).Transmit():
		fields = []string{"OutRequests"}
	}
	var keys []string
	for _, f := range fields {
		if v4 {
			keys = append(keys, "Ip."+f)
		}
		if v6 {
			keys = append(keys, "Ip6."+f)
		}
	}
	b := base{of: strings.Join(keys, " + ")}
	for _, k := range keys {
		v, ok := in.d.SNMP[k]
		b.known = b.known || ok
		b.n += v
	}
	return b
}

// softnet is the softnet row of one CPU (zero when the CPU has none).
func (in *input) softnet(cpu int) model.SoftnetCPU {
	for _, c := range in.d.Softnet {
		if c.CPU == cpu {
			return c
		}
	}
	return model.SoftnetCPU{}
}

// ev is one evidence row: counter moved by delta, as a share of what reached the stage when
// total drops were lost there.
func (in *input) ev(counter string, delta uint64, b base, total uint64) Evidence {
	x := Evidence{Counter: counter, Delta: delta, Rate: in.rate(delta)}
	if b.known {
		x.Of = b.of
		if r := b.reached(total); r > 0 {
			x.Ratio = float64(delta) / float64(r)
		}
	}
	return x
}

// note is an evidence row without a ratio.
func (in *input) note(counter string, delta uint64, note string) Evidence {
	return Evidence{Counter: counter, Delta: delta, Rate: in.rate(delta), Note: note}
}

func ratioOf(drops, through uint64) float64 {
	if drops+through == 0 {
		return 0
	}
	return float64(drops) / float64(drops+through)
}

func nonZero(xs []Evidence) []Evidence {
	out := xs[:0]
	for _, x := range xs {
		if x.Delta > 0 {
			out = append(out, x)
		}
	}
	return out
}
