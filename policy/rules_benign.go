package policy

import (
	"github.com/nettune/nettune/model/stage"
)

// benignRules: drops that no buffer fixes (docs/rules.md §4 step 0 and row 10). They are reported
// with class benign or policy, never planned.
func benignRules(e *engine) {
	in := e.udp("InDatagrams")
	if f := e.add(obs{stage: stage.NoListener, drops: e.udp("NoPorts"), through: in, of: "Udp.InDatagrams",
		summary:  "UDP datagrams arrived for ports nobody listens on (scans, stale clients, a stopped service): not a capacity problem",
		evidence: e.udpEvidence("NoPorts", "Udp.InDatagrams", in)}); f != nil {
		e.addAdvice(f.ID + ": datagrams to closed ports: check that the service is running on the expected port; scans need no tuning")
	}

	ipIn := e.snmp("Ip.InReceives")
	if f := e.add(obs{stage: stage.PolicyDrop, drops: e.snmp("TcpExt.IPReversePathFilter"), through: ipIn, of: "Ip.InReceives",
		summary:  "reverse-path filtering (rp_filter) dropped packets whose source is not routed back through the receiving interface",
		evidence: e.nonZero([]Evidence{e.ev("TcpExt.IPReversePathFilter", e.snmp("TcpExt.IPReversePathFilter"), "Ip.InReceives", ipIn)})}); f != nil {
		e.addAdvice(f.ID + ": rp_filter drops are a security setting: with asymmetric routing use loose mode (net.ipv4.conf.<if>.rp_filter=2) deliberately, not as tuning")
	}

	noRoute, addr := e.snmp("IpExt.InNoRoutes"), e.snmp("Ip.InAddrErrors")
	if f := e.add(obs{stage: stage.IP, class: stage.ClassPolicy, suffix: "routing", drops: noRoute + addr, through: ipIn, of: "Ip.InReceives",
		summary: "received packets had no route or an invalid destination address: routing configuration, not capacity",
		evidence: e.nonZero([]Evidence{e.ev("IpExt.InNoRoutes", noRoute, "Ip.InReceives", ipIn),
			e.ev("Ip.InAddrErrors", addr, "Ip.InReceives", ipIn)})}); f != nil {
		e.addAdvice(f.ID + ": fix routes or addresses; nothing to tune")
	}

	outReq, outNo := e.snmp("Ip.OutRequests"), e.snmp("Ip.OutNoRoutes")
	if f := e.add(obs{stage: stage.IPOut, class: stage.ClassPolicy, suffix: "routing", drops: outNo, through: outReq, of: "Ip.OutRequests",
		summary:  "outgoing packets had no route: routing configuration, not capacity",
		evidence: e.nonZero([]Evidence{e.ev("Ip.OutNoRoutes", outNo, "Ip.OutRequests", outReq)})}); f != nil {
		e.addAdvice(f.ID + ": add the missing route; nothing to tune")
	}
}
