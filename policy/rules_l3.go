package policy

import (
	"fmt"

	"github.com/nettune/nettune/model/stage"
)

// reasmMemoryFactor † : reassembly failures are memory-limit refusals, and ipfrag_high_thresh
// can help, only when refusals (Fails − Timeout) are at least this many times the timeouts
// (docs/rules.md row 9: "Fails ≫ Timeout"). A refusal counts per fragment, a timeout per datagram.
const reasmMemoryFactor = 4

// l3Rules: docs/rules.md row 9 (IP reassembly, IPv4 and IPv6) and corrupt IP headers. Routing and
// rp_filter drops are configuration and live in rules_benign.go.
func l3Rules(e *engine) {
	reassembly(e, "Ip", "", "net.ipv4.ipfrag_high_thresh")
	reassembly(e, "Ip6", "ipv6", "net.ipv6.ip6frag_high_thresh")
	ipHeaders(e)
}

func (e *engine) snmp(key string) uint64 { return e.d.SNMP[key] }

func reassembly(e *engine, mib, suffix, key string) {
	fails, timeout, reqds := e.snmp(mib+".ReasmFails"), e.snmp(mib+".ReasmTimeout"), e.snmp(mib+".ReasmReqds")
	refused := fails - min(timeout, fails) // an expiry bumps both counters [F]
	of := mib + ".ReasmReqds"
	ev := e.nonZero([]Evidence{e.ev(mib+".ReasmFails", fails, of, reqds), e.ev(mib+".ReasmTimeout", timeout, of, reqds)})
	if refused > 0 {
		x := e.ev(mib+".ReasmFails − ReasmTimeout", refused, of, reqds)
		x.Note = "≈ fragments refused because reassembly memory (high_thresh) was full"
		ev = append(ev, x)
	}
	f := e.add(obs{stage: stage.IPReassembly, suffix: suffix, drops: fails, through: reqds, of: of,
		summary:  fmt.Sprintf("%s reassembly failed for fragmented datagrams", mib),
		evidence: ev})
	if f == nil {
		return
	}
	if refused == 0 || refused < reasmMemoryFactor*timeout {
		f.Summary += ": mostly timeouts, so fragments are lost upstream (fix MTU/PMTU); more memory will not help"
		e.addAdvice(f.ID + ": reassembly timeouts mean missing fragments (lost upstream or an MTU/PMTU problem): avoid fragmentation rather than adding memory")
		return
	}
	f.Summary += ": the reassembly memory limit refused fragments"
	e.proposeSysctl(f, sysctlStep{
		key:  key,
		mem:  func(cur, next int64) int64 { return next - cur },
		risk: "more memory can be pinned by incomplete datagrams (fragment floods)",
		why:  "reassembly failures are memory-limit refusals (Fails ≫ Timeout): the high threshold bounds the memory all incomplete datagrams of this netns may hold; a 64 KiB datagram in 1500-byte fragments needs ≈ 130 KB",
	})
}

func ipHeaders(e *engine) {
	bad := e.snmp("Ip.InHdrErrors") + e.snmp("IpExt.InCsumErrors")
	in := e.snmp("Ip.InReceives")
	ev := e.nonZero([]Evidence{
		e.ev("Ip.InHdrErrors", e.snmp("Ip.InHdrErrors"), "Ip.InReceives", in),
		e.ev("IpExt.InCsumErrors", e.snmp("IpExt.InCsumErrors"), "Ip.InReceives", in),
	})
	e.add(obs{stage: stage.IP, suffix: "headers", drops: bad, through: in, of: "Ip.InReceives",
		summary:  "IP packets with bad headers or checksums were dropped: corruption or a misbehaving sender, not tuning",
		evidence: ev})
}
