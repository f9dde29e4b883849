package policy

import (
	"fmt"

	"github.com/nettune/nettune/model/stage"
)

// reasmMemoryFactor † : reassembly failures are memory-limit refusals, and ipfrag_high_thresh
// can help, only when refusals (Fails − Timeout) are at least this many times the timeouts
// (docs/rules.md row 9: "Fails ≫ Timeout"). A refusal counts per fragment, a timeout per datagram.
const reasmMemoryFactor = 4

// l3Rule: docs/rules.md row 9 (IP reassembly, IPv4 and IPv6) and corrupt IP headers. Routing
// and rp_filter drops are configuration and live in rules_benign.go.
func l3Rule(in *input) output {
	var out output
	out.add(reassembly(in, "Ip", "", "net.ipv4.ipfrag_high_thresh"), reassembly(in, "Ip6", "ipv6", "net.ipv6.ip6frag_high_thresh"),
		ipHeaders(in))
	return out
}

func reassembly(in *input, mib, sub, key string) *obs {
	fails, timeout := in.snmp(mib+".ReasmFails"), in.snmp(mib+".ReasmTimeout")
	if fails == 0 {
		return nil
	}
	refused := fails - min(timeout, fails) // an expiry bumps both counters [frag]
	p := place{stage: stage.IPReassembly, sub: sub}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{in.ev(mib+".ReasmFails", fails, b, fails), in.ev(mib+".ReasmTimeout", timeout, b, fails)})
	if refused > 0 {
		x := in.ev(mib+".ReasmFails − ReasmTimeout", refused, b, fails)
		x.Note = "≈ fragments refused because reassembly memory (high_thresh) was full"
		ev = append(ev, x)
	}
	o := &obs{place: p, source: sourceCounter, covers: true, drops: fails, base: b, evidence: ev,
		summary: fmt.Sprintf("%s reassembly failed for fragmented datagrams", mib)}
	id := in.id(p)
	if refused == 0 || refused < reasmMemoryFactor*timeout {
		o.summary += ": mostly timeouts, so fragments are lost upstream (fix MTU/PMTU); more memory will not help"
		o.say(always(id + ": reassembly timeouts mean missing fragments (lost upstream or an MTU/PMTU problem): avoid fragmentation rather than adding memory"))
		return o
	}
	o.summary += ": the reassembly memory limit refused fragments"
	o.offer(sysctlProposal(sysctlStep{
		key:  key,
		mem:  func(cur, next int64) int64 { return next - cur },
		risk: "more memory can be pinned by incomplete datagrams (fragment floods)",
		why:  "reassembly failures are memory-limit refusals (Fails ≫ Timeout): the high threshold bounds the memory all incomplete datagrams of this netns may hold; a 64 KiB datagram in 1500-byte fragments needs ≈ 130 KB",
	}))
	return o
}

// ipHeaders: packets with bad IP headers or bad checksums at any layer (the transport drops a
// datagram with a bad checksum before it looks for a socket).
func ipHeaders(in *input) *obs {
	bad := in.ipHeaderDrops()
	if bad == 0 {
		return nil
	}
	p := place{stage: stage.IP, sub: "headers"}
	b := in.stageBase(p)
	var ev []Evidence
	for _, k := range ipHeaderFields {
		ev = append(ev, in.ev(k, in.snmp(k), b, bad))
	}
	return &obs{place: p, source: sourceCounter, covers: true, drops: bad, base: b, evidence: nonZero(ev),
		summary: "IP packets with bad headers or checksums were dropped: corruption or a misbehaving sender, not tuning"}
}

// ipHeaderFields count packets with bad headers or checksums at any layer.
var ipHeaderFields = []string{"Ip.InHdrErrors", "IpExt.InCsumErrors", "Udp.InCsumErrors", "Udp6.InCsumErrors", "Tcp.InCsumErrors", "Icmp.InCsumErrors"}

func (in *input) ipHeaderDrops() uint64 {
	var n uint64
	for _, k := range ipHeaderFields {
		n += in.snmp(k)
	}
	return n
}
