package policy

import (
	"github.com/nettune/nettune/model/stage"
)

// tcpRules: docs/rules.md rows 12 (receive buffer, socket backlog, TCP memory) and 13 (accept and
// SYN queues). TCP drops cause retransmits rather than silent loss, but they still cost
// throughput and latency.
func tcpRules(e *engine) {
	tcpRcvbuf(e)
	tcpBacklog(e)
	tcpAccept(e)
}

var tcpRcvDropFields = []string{"TCPRcvQDrop", "RcvPruned", "OfoPruned", "TCPOFODrop", "TCPZeroWindowDrop"}

func tcpRcvbuf(e *engine) {
	in := e.snmp("Tcp.InSegs")
	var drops uint64
	var ev []Evidence
	for _, k := range tcpRcvDropFields {
		n := e.snmp("TcpExt." + k)
		drops += n
		ev = append(ev, e.ev("TcpExt."+k, n, "Tcp.InSegs", in))
	}
	f := e.add(obs{stage: stage.TCPRcvbuf, drops: drops, through: in, of: "Tcp.InSegs",
		summary:  "TCP discarded received data because a socket's receive buffer or TCP memory was exhausted; the sender retransmits",
		evidence: e.nonZero(ev)})
	if n := e.snmp("TcpExt.PruneCalled"); n > 0 {
		e.add(obs{stage: stage.TCPRcvbuf, drops: n, through: in, of: "Tcp.InSegs", pressure: true,
			summary:  "TCP collapsed receive queues to fit the buffer (CPU cost, no loss by itself)",
			evidence: []Evidence{e.ev("TcpExt.PruneCalled", n, "Tcp.InSegs", in)}})
	}
	if f == nil || f.Severity < SeverityWarning {
		return
	}
	if v, ok := e.sysctlValue("net.ipv4.tcp_moderate_rcvbuf"); ok && v == "0" {
		e.addAdvice(f.ID + ": receive-buffer autotuning is off (tcp_moderate_rcvbuf=0): turn it on before raising tcp_rmem")
	} else {
		e.proposeSysctl(f, sysctlStep{
			key:  "net.ipv4.tcp_rmem",
			mem:  func(cur, next int64) int64 { return next - cur },
			risk: "each connection may grow its receive buffer this much more (worst case per socket; tcp_mem bounds the total)",
			why:  "autotuning grows each connection's receive buffer up to tcp_rmem[2] (net.core.rmem_max caps only explicit SO_RCVBUF, and an application that sets SO_RCVBUF turns autotuning off for that socket)",
		})
	}
	if n := e.snmp("TcpExt.TCPMemoryPressures"); n > 0 {
		f.Evidence = append(f.Evidence, e.ev("TcpExt.TCPMemoryPressures", n, "", 0))
		e.addAdvice(f.ID + ": TCP memory pressure: in a container check the memory cgroup limit first (socket memory is charged to it)")
		e.proposeSysctl(f, sysctlStep{
			key:  "net.ipv4.tcp_mem",
			mem:  func(cur, next int64) int64 { return (next - cur) * pageSize },
			risk: "all TCP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
			why:  "TCP entered memory pressure (tcp_mem, in pages, bounds all TCP sockets of the host)",
		})
	}
}

func tcpBacklog(e *engine) {
	in := e.snmp("Tcp.InSegs")
	n := e.snmp("TcpExt.TCPBacklogDrop")
	f := e.add(obs{stage: stage.TCPBacklog, drops: n, through: in, of: "Tcp.InSegs",
		summary:  "TCP dropped segments because the socket's backlog was full while the application held the socket lock",
		evidence: e.nonZero([]Evidence{e.ev("TcpExt.TCPBacklogDrop", n, "Tcp.InSegs", in)})})
	if f != nil {
		e.addAdvice(f.ID + ": socket-backlog drops usually mean the application holds the socket too long per call (large sends/reads under the lock); buffer sysctls barely move this limit")
	}
}

func tcpAccept(e *engine) {
	opens := e.snmp("Tcp.PassiveOpens")
	over, drops, reqFull := e.snmp("TcpExt.ListenOverflows"), e.snmp("TcpExt.ListenDrops"), e.snmp("TcpExt.TCPReqQFullDrop")
	of := "Tcp.PassiveOpens"
	f := e.add(obs{stage: stage.TCPAcceptQueue, drops: max(drops, over+reqFull), through: opens, of: of,
		summary: "connection attempts were dropped at a listening socket: the accept queue (or SYN queue) was full",
		evidence: e.nonZero([]Evidence{e.ev("TcpExt.ListenOverflows", over, of, opens), e.ev("TcpExt.ListenDrops", drops, of, opens),
			e.ev("TcpExt.TCPReqQFullDrop", reqFull, of, opens)})})
	if n := e.snmp("TcpExt.TCPReqQFullDoCookies"); n > 0 {
		e.add(obs{stage: stage.TCPAcceptQueue, drops: n, through: opens, of: of, pressure: true,
			summary:  "the SYN queue was full and SYN cookies answered instead (no loss, but syncookies must not carry legitimate load)",
			evidence: []Evidence{e.ev("TcpExt.TCPReqQFullDoCookies", n, of, opens)}})
	}
	if f == nil {
		return
	}
	e.addAdvice(f.ID + ": a full accept queue usually means the application accepts too slowly: check its accept loop (ss -ltn: Recv-Q vs Send-Q)")
	if reqFull > 0 {
		e.addAdvice(f.ID + ": SYN-queue drops: with net.ipv4.tcp_syncookies=0 the SYN queue is bounded by the listener's backlog and tcp_max_syn_backlog")
	}
	if over == 0 {
		return
	}
	e.proposeSysctl(f, sysctlStep{
		key:  "net.core.somaxconn",
		mem:  func(cur, next int64) int64 { return (next - cur) * 304 },
		risk: "a longer queue hides a slow accept loop; the estimate is per listener (≈ 304 B per pending request, more per queued established socket)",
		why:  "the effective accept backlog is min(the application's listen() backlog, somaxconn), fixed when listen() is called: the application must listen again (restart) with a backlog at least this large",
	})
}
