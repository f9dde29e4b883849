package policy

import (
	"github.com/nettune/nettune/model/stage"
)

// benignRule: drops that no buffer fixes (docs/rules.md §4 step 0 and row 10), each at the
// stage where it happens: datagrams for closed ports at socket-lookup, reverse-path filtering,
// routing and unknown protocols at ip, sends without a route at ip-out. They are reported with
// class benign or policy, never planned.
func benignRule(in *input) output {
	var out output
	if n := in.udp("NoPorts"); n > 0 {
		p := place{stage: stage.SocketLookup, sub: "udp"}
		b := in.stageBase(p)
		o := &obs{place: p, class: stage.ClassBenign, source: sourceCounter, covers: true, drops: n, base: b,
			summary:  "UDP datagrams arrived for ports nobody listens on (scans, stale clients, a stopped service): not a capacity problem",
			evidence: nonZero([]Evidence{in.ev("Udp.NoPorts", in.snmp("Udp.NoPorts"), b, n), in.ev("Udp6.NoPorts", in.snmp("Udp6.NoPorts"), b, n)})}
		o.say(always(in.id(p) + ": datagrams to closed ports: check that the service is running on the expected port; scans need no tuning"))
		out.add(o)
	}
	if n := in.snmp("TcpExt.IPReversePathFilter"); n > 0 {
		p := place{stage: stage.IP, sub: "rp-filter"}
		b := in.stageBase(p)
		o := &obs{place: p, class: stage.ClassPolicy, source: sourceCounter, covers: true, drops: n, base: b,
			summary:  "reverse-path filtering (rp_filter) dropped packets whose source is not routed back through the receiving interface",
			evidence: []Evidence{in.ev("TcpExt.IPReversePathFilter", n, b, n)}}
		o.say(always(in.id(p) + ": rp_filter drops are a security setting: with asymmetric routing use loose mode (net.ipv4.conf.<if>.rp_filter=2) deliberately, not as tuning"))
		out.add(o)
	}
	if noRoute, addr := in.snmp("IpExt.InNoRoutes"), in.snmp("Ip.InAddrErrors"); noRoute+addr > 0 {
		p := place{stage: stage.IP, sub: "routing"}
		b := in.stageBase(p)
		o := &obs{place: p, class: stage.ClassPolicy, source: sourceCounter, drops: noRoute + addr, base: b,
			summary: "received packets had no route or an invalid destination address: routing configuration, not capacity",
			evidence: nonZero([]Evidence{in.ev("IpExt.InNoRoutes", noRoute, b, noRoute+addr),
				in.ev("Ip.InAddrErrors", addr, b, noRoute+addr)})}
		o.say(always(in.id(p) + ": fix routes or addresses; nothing to tune"))
		out.add(o)
	}
	if n := in.snmp("Ip.InUnknownProtos"); n > 0 {
		p := place{stage: stage.IP, sub: "noproto"}
		b := in.stageBase(p)
		out.add(&obs{place: p, class: stage.ClassBenign, source: sourceCounter, covers: true, drops: n, base: b,
			summary:  "IP packets of a transport protocol this host does not handle were dropped: nobody serves them",
			evidence: []Evidence{in.ev("Ip.InUnknownProtos", n, b, n)}})
	}
	if n := in.snmp("Ip.OutNoRoutes"); n > 0 {
		p := place{stage: stage.IPOut, sub: "routing"}
		b := in.stageBase(p)
		o := &obs{place: p, class: stage.ClassPolicy, source: sourceCounter, drops: n, base: b,
			summary:  "outgoing packets had no route: routing configuration, not capacity",
			evidence: []Evidence{in.ev("Ip.OutNoRoutes", n, b, n)}}
		o.say(always(in.id(p) + ": add the missing route; nothing to tune"))
		out.add(o)
	}
	return out
}
