package policy

import (
	"github.com/nettune/nettune/model/stage"
)

// tcpRule: docs/rules.md rows 12 (receive buffer, socket backlog, TCP memory) and 13 (accept
// and SYN queues). TCP drops cause retransmits rather than silent loss, but they still cost
// throughput and latency.
func tcpRule(in *input) output {
	var out output
	out.add(tcpRcvbuf(in), tcpPrune(in), tcpBacklog(in), tcpAccept(in), tcpCookies(in))
	return out
}

var tcpRcvDropFields = []string{"TCPRcvQDrop", "RcvPruned", "OfoPruned", "TCPOFODrop", "TCPZeroWindowDrop"}

func tcpRcvbuf(in *input) *obs {
	var drops uint64
	for _, k := range tcpRcvDropFields {
		drops += in.snmp("TcpExt." + k)
	}
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.TCPRcvbuf}
	b := in.stageBase(p)
	var ev []Evidence
	for _, k := range tcpRcvDropFields {
		ev = append(ev, in.ev("TcpExt."+k, in.snmp("TcpExt."+k), b, drops))
	}
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: nonZero(ev),
		summary: "TCP discarded received data because a socket's receive buffer or TCP memory was exhausted; the sender retransmits"}
	id := in.id(p)
	if v, ok := in.sysctlValue("net.ipv4.tcp_moderate_rcvbuf"); ok && v == "0" {
		o.say(ifActing(id + ": receive-buffer autotuning is off (tcp_moderate_rcvbuf=0): turn it on before raising tcp_rmem"))
	} else {
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.ipv4.tcp_rmem",
			mem:  func(cur, next int64) int64 { return next - cur },
			risk: "each connection may grow its receive buffer this much more (worst case per socket; tcp_mem bounds the total)",
			why:  "autotuning grows each connection's receive buffer up to tcp_rmem[2] (net.core.rmem_max caps only explicit SO_RCVBUF, and an application that sets SO_RCVBUF turns autotuning off for that socket)",
		}))
	}
	if n := in.snmp("TcpExt.TCPMemoryPressures"); n > 0 {
		o.evidence = append(o.evidence, in.note("TcpExt.TCPMemoryPressures", n, ""))
		o.say(ifActing(id + ": TCP memory pressure: in a container check the memory cgroup limit first (socket memory is charged to it)"))
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.ipv4.tcp_mem",
			mem:  func(cur, next int64) int64 { return (next - cur) * pageSize },
			risk: "all TCP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
			why:  "TCP entered memory pressure (tcp_mem, in pages, bounds all TCP sockets of the host)",
		}))
	}
	return o
}

// tcpPrune: TCP collapsed receive queues to fit the buffer, which is pressure.
func tcpPrune(in *input) *obs {
	n := in.snmp("TcpExt.PruneCalled")
	if n == 0 {
		return nil
	}
	p := place{stage: stage.TCPRcvbuf}
	b := in.stageBase(p)
	return &obs{place: p, source: sourceCounter, drops: n, base: b, pressure: true,
		summary:  "TCP collapsed receive queues to fit the buffer (CPU cost, no loss by itself)",
		evidence: []Evidence{in.ev("TcpExt.PruneCalled", n, b, n)}}
}

func tcpBacklog(in *input) *obs {
	n := in.snmp("TcpExt.TCPBacklogDrop")
	if n == 0 {
		return nil
	}
	p := place{stage: stage.TCPBacklog}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: n, base: b,
		summary:  "TCP dropped segments because the socket's backlog was full while the application held the socket lock",
		evidence: []Evidence{in.ev("TcpExt.TCPBacklogDrop", n, b, n)}}
	o.say(always(in.id(p) + ": socket-backlog drops usually mean the application holds the socket too long per call (large sends/reads under the lock); buffer sysctls barely move this limit"))
	return o
}

func tcpAccept(in *input) *obs {
	over, drops, reqFull := in.snmp("TcpExt.ListenOverflows"), in.snmp("TcpExt.ListenDrops"), in.snmp("TcpExt.TCPReqQFullDrop")
	lost := max(drops, over+reqFull)
	if lost == 0 {
		return nil
	}
	p := place{stage: stage.TCPAcceptQueue}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: lost, base: b,
		summary: "connection attempts were dropped at a listening socket: the accept queue (or SYN queue) was full",
		evidence: nonZero([]Evidence{in.ev("TcpExt.ListenOverflows", over, b, lost), in.ev("TcpExt.ListenDrops", drops, b, lost),
			in.ev("TcpExt.TCPReqQFullDrop", reqFull, b, lost)})}
	id := in.id(p)
	o.say(always(id + ": a full accept queue usually means the application accepts too slowly: check its accept loop (ss -ltn: Recv-Q vs Send-Q)"))
	if reqFull > 0 {
		o.say(always(id + ": SYN-queue drops: with net.ipv4.tcp_syncookies=0 the SYN queue is bounded by the listener's backlog and tcp_max_syn_backlog"))
	}
	if over > 0 {
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.core.somaxconn",
			mem:  func(cur, next int64) int64 { return (next - cur) * 304 },
			risk: "a longer queue hides a slow accept loop; the estimate is per listener (≈ 304 B per pending request, more per queued established socket)",
			why:  "the effective accept backlog is min(the application's listen() backlog, somaxconn), fixed when listen() is called: the application must listen again (restart) with a backlog at least this large",
		}))
	}
	return o
}

// tcpCookies: SYN cookies answered because the SYN queue was full, which is pressure.
func tcpCookies(in *input) *obs {
	n := in.snmp("TcpExt.TCPReqQFullDoCookies")
	if n == 0 {
		return nil
	}
	p := place{stage: stage.TCPAcceptQueue}
	b := in.stageBase(p)
	return &obs{place: p, source: sourceCounter, drops: n, base: b, pressure: true,
		summary:  "the SYN queue was full and SYN cookies answered instead (no loss, but syncookies must not carry legitimate load)",
		evidence: []Evidence{in.ev("TcpExt.TCPReqQFullDoCookies", n, b, n)}}
}
