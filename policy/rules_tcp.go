package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// tcpRule: docs/rules.md rows 12 (receive buffer, socket backlog, TCP memory), 13 (accept
// and SYN queues, SYN floods), 16 (the TCP memory pool) and 18 (loss past this host). TCP
// drops cause retransmits rather than silent loss, but they still cost throughput and latency.
func tcpRule(in *input) output {
	var out output
	out.add(tcpRcvbuf(in), tcpPrune(in), tcpMemPressure(in), tcpBacklog(in), tcpAccept(in), tcpCookies(in), tcpPathLoss(in))
	return out
}

// tcpRcvDropFields count the segments TCP discarded for want of receive memory, each once.
// RcvPruned is not one of them: it counts a prune that failed to make room, after which
// tcp_data_queue counts the refused segment in TCPRcvQDrop (or TCPOFODrop out of order), or
// drops nothing when the receive queue was empty (the segment is charged anyway); added,
// every such drop counted twice. It is evidence of the same drops.
var tcpRcvDropFields = []string{"TCPRcvQDrop", "OfoPruned", "TCPOFODrop", "TCPZeroWindowDrop"}

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
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b, evidence: nonZero(ev), sockets: in.connSockets(),
		summary: "TCP discarded received data because a socket's receive buffer or TCP memory was exhausted; the sender retransmits"}
	if n := in.snmp("TcpExt.RcvPruned"); n > 0 {
		o.evidence = append(o.evidence, in.note("TcpExt.RcvPruned", n, "prunes that could not make room: each before a segment counted above, unless the receive queue was empty"))
	}
	id := in.id(p)
	pl := in.tcpPool()
	if pl.known {
		o.evidence = append(o.evidence, pl.evidence(in))
	}
	if pl.atLimit() {
		// the pool, not the socket, refused the memory: a larger tcp_rmem asks every
		// connection for more of what is not there (docs/rules.md row 16)
		o.summary = "TCP discarded received data because TCP memory as a whole (tcp_mem, host-wide) was at its limit; the sender retransmits"
		o.say(always(id + ": TCP memory as a whole is at its limit (sockstat against tcp_mem): tcp_rmem is not raised while the pool is the limit; in a container check the memory cgroup limit first"))
		o.say(highOrderAdvice(in, id)...)
		o.offer(tcpMemProposal(pl, "TCP memory (tcp_mem, in pages) bounds all TCP sockets of the host together; sockstat showed the pool at its hard limit"))
		return o
	}
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
	if set := setRcvbufListeners(in); len(set) > 0 {
		o.sockets.add(in.setRcvbufSockets())
		o.say(always(id + ": " + strings.Join(set, ", ") + " set SO_RCVBUF (their connections inherit it and are not autotuned): tcp_rmem does not reach them; raise the buffer in the application"))
	}
	if set := setRcvbufConns(in); len(set) > 0 {
		o.say(always(id + ": the connections " + strings.Join(set, ", ") + " dropped with a receive buffer their application fixed (SO_RCVBUF, no autotuning): tcp_rmem does not reach them; raise the buffer in the application"))
	}
	if n := in.snmp("TcpExt.TCPMemoryPressures"); n > 0 {
		o.evidence = append(o.evidence, in.note("TcpExt.TCPMemoryPressures", n, ""))
		o.say(ifActing(id + ": TCP memory pressure: in a container check the memory cgroup limit first (socket memory is charged to it)"))
		o.say(highOrderAdvice(in, id)...)
		o.offer(tcpMemProposal(pl, "TCP entered memory pressure (tcp_mem, in pages, bounds all TCP sockets of the host)"))
	}
	return o
}

// tcpMemPressure: TCP memory under pressure while no receive drop was counted, which is
// pressure (info): above tcp_mem[1] the kernel trims socket buffers and windows, and further
// growth fails at tcp_mem[2] (docs/rules.md row 16). With drops tcpRcvbuf carries the same
// evidence. TCPMemoryPressures counts entries into pressure, in the namespace of the socket
// that entered; TCPMemoryPressuresChrono adds the milliseconds spent only when pressure
// ends, so a pressure still on shows in sockstat alone: the pool at or above tcp_mem[1] at
// the sample (the kernel leaves pressure only below tcp_mem[0]). The finding's count is
// milliseconds under pressure.
func tcpMemPressure(in *input) *obs {
	for _, k := range tcpRcvDropFields {
		if in.snmp("TcpExt."+k) > 0 {
			return nil
		}
	}
	entered, chrono := in.snmp("TcpExt.TCPMemoryPressures"), in.snmp("TcpExt.TCPMemoryPressuresChrono")
	pl := in.tcpPool()
	on := pl.known && in.cur.Sockstat != nil && int64(in.cur.Sockstat.TCPMem) >= pl.press
	ms := chrono
	if on {
		ms = max(ms, uint64(in.d.Interval.Milliseconds()))
	}
	if ms == 0 {
		return nil
	}
	p := place{stage: stage.TCPRcvbuf, sub: "memory-pressure"}
	o := &obs{place: p, source: sourceCounter, drops: ms, pressure: true,
		summary: "TCP memory (tcp_mem, host-wide) was under pressure with no receive drop: the kernel trims socket buffers and windows, which costs throughput before it costs packets",
		evidence: nonZero([]Evidence{
			in.note("TcpExt.TCPMemoryPressures", entered, "entries into pressure (counted in the namespace of the socket that entered)"),
			in.note("TcpExt.TCPMemoryPressuresChrono", chrono, "milliseconds under pressure, added when pressure ends"),
		})}
	if pl.known {
		note := "below tcp_mem[1] at the sample"
		if on {
			note = "at or above tcp_mem[1] at the sample: pressure still on"
		}
		o.evidence = append(o.evidence, pl.evidence(in), in.note("sockstat TCP mem now (pages)", in.cur.Sockstat.TCPMem, note))
	}
	id := in.id(p)
	o.say(always(id + ": TCP memory pressure without loss: nettune proposes tcp_mem only when receive drops follow; in a container check the memory cgroup limit first (socket memory is charged to it)"))
	o.say(highOrderAdvice(in, id)...)
	return o
}

// highOrderAdvice: the TX path (and virtio_net's receive buffers) fill sockets from 32 KiB
// page fragments; net.core.high_order_alloc_disable=1 makes them single pages. Under socket
// memory pressure that holds less memory in partly used fragments and wakes no compaction
// for order-3 pages; it costs more allocations per byte. Advice only, where the kernel has
// the key (5.3 and later) and it is 0 (docs/rules.md row 16).
func highOrderAdvice(in *input, id string) []advice {
	v, ok := in.sysctlValue("net.core.high_order_alloc_disable")
	if !ok || strings.TrimSpace(v) != "0" {
		return nil
	}
	return []advice{always(id + ": under socket memory pressure, net.core.high_order_alloc_disable=1 makes sockets take single pages instead of 32 KiB fragments (less memory held in partly used fragments, no order-3 allocations to compact for); it costs more allocations on fast senders and the kernel's documentation calls the key mostly historical since high-order pages are cached per CPU — advice, nettune does not change it")}
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
	o := &obs{place: p, source: sourceCounter, covers: true, drops: n, base: b, sockets: in.connSockets(),
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
	o.sockets = in.acceptSockets()
	id := in.id(p)
	if in.synFlood() && over == 0 {
		in.flood(o)
		return o
	}
	o.say(always(id + ": a full accept queue usually means the application accepts too slowly: check its accept loop (ss -ltn: Recv-Q vs Send-Q)"))
	if reqFull > 0 {
		o.say(always(id + ": SYN-queue drops: with net.ipv4.tcp_syncookies=0 the SYN queue is bounded by the listener's backlog and tcp_max_syn_backlog"))
	}
	if over == 0 {
		return o
	}
	ls := in.acceptLimits()
	o.evidence = append(o.evidence, ls.evidence...)
	if len(ls.appLimited) > 0 {
		o.say(always(fmt.Sprintf("%s: the application's listen() backlog is the limit of %s (somaxconn %d is larger): raise the backlog the application passes to listen() and restart it; somaxconn does not reach it",
			id, strings.Join(ls.appLimited, ", "), ls.somaxconn)))
	}
	if ls.somaxconnBinds {
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.core.somaxconn",
			mem:  func(cur, next int64) int64 { return (next - cur) * 304 },
			risk: "a longer queue hides a slow accept loop; the estimate is per listener (≈ 304 B per pending request, more per queued established socket)",
			why:  "the effective accept backlog is min(the application's listen() backlog, somaxconn), fixed when listen() is called: the application must listen again (restart) with a backlog at least this large",
		}))
	}
	return o
}

// acceptLimits says whose limit a full accept queue hit: a listener's backlog is
// min(listen() backlog, somaxconn), so somaxconn binds only where the backlog equals it.
type acceptLimits struct {
	somaxconn      int64
	somaxconnBinds bool     // somaxconn is the limit of a listener that filled, or that is not known
	appLimited     []string // listeners whose own backlog is below somaxconn: "198.18.0.1:80 (backlog 20)"
	evidence       []Evidence
}

// maxNamedListeners bounds the listeners named in evidence and advice.
const maxNamedListeners = 8

func (in *input) acceptLimits() acceptLimits {
	som, ok := in.sysctlInt("net.core.somaxconn")
	l := acceptLimits{somaxconn: som, somaxconnBinds: true}
	cands := in.acceptCandidates()
	if !ok || len(cands) == 0 {
		return l // nothing known about the listeners: somaxconn is the knob that may bind
	}
	l.somaxconnBinds = false
	for _, x := range cands {
		bl := int64(x.ln.Backlog)
		note := fmt.Sprintf("accept queue %d of %d", x.queue, bl)
		if bl >= som {
			l.somaxconnBinds = true
			note += " = somaxconn: somaxconn is the limit"
		} else if len(l.appLimited) < maxNamedListeners {
			l.appLimited = append(l.appLimited, fmt.Sprintf("%s (backlog %d)", x.ln.Local, bl))
			note += " < somaxconn: the application's listen() backlog is the limit"
		}
		if len(l.evidence) < maxNamedListeners {
			l.evidence = append(l.evidence, in.note("tcp listener "+x.ln.Local, uint64(x.queue), note))
		}
	}
	return l
}

// listenerSeen is a listener with the fuller accept queue of the interval's two samples and
// the connections it refused between them (0 when unknown).
type listenerSeen struct {
	ln    *model.TCPListener
	queue uint32
	drops uint64
}

// acceptCandidates are the listeners whose accept queue may have overflowed: those that
// refused connections in the interval (their sk_drops grew), where the kernel counts them.
// Otherwise the accept queue, a gauge, tells: a listener that filled during the interval may
// have drained by the sample, so the fuller reading of the two samples counts, and without
// a full one every listener is a candidate.
func (in *input) acceptCandidates() []listenerSeen {
	var all []listenerSeen
	byLocal := map[string]int{}
	for _, s := range []*model.Sample{in.d.Prev, in.d.Cur} {
		if s == nil {
			continue
		}
		for i := range s.TCPListeners {
			x := &s.TCPListeners[i]
			if j, ok := byLocal[x.Local]; ok {
				seen := &all[j]
				seen.queue = max(seen.queue, x.AcceptQueue)
				if x.Inode == seen.ln.Inode && x.Drops >= seen.ln.Drops {
					seen.drops = x.Drops - seen.ln.Drops // a new socket at the address: unknown
				}
				seen.ln = x
				continue
			}
			byLocal[x.Local] = len(all)
			all = append(all, listenerSeen{ln: x, queue: x.AcceptQueue})
		}
	}
	var dropped, full []listenerSeen
	for _, x := range all {
		if x.drops > 0 {
			dropped = append(dropped, x)
		}
		if x.ln.Backlog > 0 && x.queue >= x.ln.Backlog {
			full = append(full, x)
		}
	}
	switch {
	case len(dropped) > 0:
		return dropped
	case len(full) > 0:
		return full
	}
	return all
}

// acceptSockets names the listeners whose accept queue may have overflowed.
func (in *input) acceptSockets() sockets { return in.listenerSockets(in.acceptCandidates()) }

// synFlood: SYN-queue counters moved and not one handshake completed. The accept queue of a
// slow application fills with completed handshakes; a queue of half-open ones that never
// complete is spoofed or abandoned SYNs (docs/rules.md row 13).
func (in *input) synFlood() bool {
	_, known := in.d.SNMP["Tcp.PassiveOpens"]
	syn := in.snmp("TcpExt.TCPReqQFullDrop") + in.snmp("TcpExt.TCPReqQFullDoCookies") + in.snmp("TcpExt.ListenDrops")
	return known && in.snmp("Tcp.PassiveOpens") == 0 && syn > 0
}

// flood makes o the account of a SYN flood: policy (an attack or a half-open storm, not
// capacity), no knob; the defences that apply as advice.
func (in *input) flood(o *obs) {
	o.class = stage.ClassPolicy
	o.summary = "the SYN queue overflowed while no connection completed its handshake (Tcp.PassiveOpens 0): a SYN flood or half-open storm, not a slow application"
	id := in.id(o.place)
	if v, ok := in.sysctlValue("net.ipv4.tcp_syncookies"); ok && strings.TrimSpace(v) == "0" {
		o.say(always(id + ": net.ipv4.tcp_syncookies is 0: set it to 1 so the kernel answers SYNs with cookies when the SYN queue is full instead of dropping them (sysctl -w net.ipv4.tcp_syncookies=1)"))
	} else {
		o.say(always(id + ": SYN cookies answer SYNs the full SYN queue cannot hold; legitimate clients still connect"))
	}
	o.say(always(id + ": somaxconn is not raised for a flood: the listener's backlog bounds the SYN queue too, and tcp_max_syn_backlog matters only with syncookies off; filter the sources upstream or rate-limit SYNs"))
}

// tcpCookies: SYN cookies answered because the SYN queue was full, which is pressure.
func tcpCookies(in *input) *obs {
	n := in.snmp("TcpExt.TCPReqQFullDoCookies")
	if n == 0 {
		return nil
	}
	p := place{stage: stage.TCPAcceptQueue}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, drops: n, base: b, pressure: true,
		summary:  "the SYN queue was full and SYN cookies answered instead (no loss, but syncookies must not carry legitimate load)",
		evidence: []Evidence{in.ev("TcpExt.TCPReqQFullDoCookies", n, b, n)}}
	if in.synFlood() && in.snmp("TcpExt.ListenOverflows") == 0 {
		in.flood(o)
	}
	return o
}

func tcpMemProposal(p memPool, why string) proposal {
	return sysctlProposal(sysctlStep{
		key:     "net.ipv4.tcp_mem",
		mem:     func(cur, next int64) int64 { return (next - cur) * pageSize },
		atLeast: p.atLeast(),
		risk:    "all TCP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
		why:     why,
	})
}

// setRcvbufListeners names the listeners whose application set SO_RCVBUF.
func setRcvbufListeners(in *input) []string {
	var out []string
	for _, l := range in.cur.TCPListeners {
		if l.RcvBufSet != nil && *l.RcvBufSet {
			out = append(out, l.Local)
		}
	}
	return out
}

// setRcvbufConns names the connections that dropped in the interval with a receive buffer
// their application set (SO_RCVBUF), at most MaxSockets.
func setRcvbufConns(in *input) []string {
	var out []string
	for _, c := range in.d.TCPDropping {
		if c.RcvBufSet != nil && *c.RcvBufSet && len(out) < MaxSockets {
			out = append(out, fmt.Sprintf("%s ← %s (rcvbuf %d)", c.Local, c.Remote, c.RcvBuf))
		}
	}
	return out
}

// setRcvbufSockets names the listeners whose application set SO_RCVBUF.
func (in *input) setRcvbufSockets() sockets {
	var ls []listenerSeen
	for i := range in.cur.TCPListeners {
		if l := &in.cur.TCPListeners[i]; l.RcvBufSet != nil && *l.RcvBufSet {
			ls = append(ls, listenerSeen{ln: l, queue: l.AcceptQueue})
		}
	}
	return in.listenerSockets(ls)
}

// maxNamedConns bounds the connections a loss-past-the-host finding names.
const maxNamedConns = 8

// tcpPathLoss: TCP retransmitted more segments than this host dropped packets: the rest of
// the loss is past the host (the path, a congested link, the peer), docs/rules.md row 18.
// Every local drop is taken to explain one retransmission, so a stray drop (a fresh link's
// IPv6 chatter, one backlog overflow) lowers the count instead of hiding the finding. Benign
// for this host: no knob here reaches it; the finding names the connections and the
// congestion control that copes with loss.
func tcpPathLoss(in *input) *obs {
	r := in.snmp("Tcp.RetransSegs")
	if r == 0 || len(in.d.TCPRetrans) == 0 {
		return nil
	}
	local := in.localDropsUpTo(r)
	if local >= r {
		return nil
	}
	n := r - local
	p := place{stage: stage.NICTx, sub: "past-host"}
	b := in.snmpBase("Tcp.OutSegs", false, "Tcp.OutSegs")
	if in.rate(n) < in.cfg.Thresholds.MinRate || (b.known && b.ratio(n) < in.cfg.Thresholds.MinRatio) {
		return nil
	}
	o := &obs{place: p, class: stage.ClassBenign, source: sourceCounter, drops: n, base: b, pressure: true,
		summary:  "TCP retransmitted segments that no stage of this host dropped: the loss is past this host (path, peer or a congested link)",
		evidence: []Evidence{in.ev("Tcp.RetransSegs", r, b, r)}}
	if local > 0 {
		o.evidence = append(o.evidence, in.note("drops on this host", local,
			fmt.Sprintf("every stage together: at most that many of the %d retransmissions are this host's, %d are not", r, n)))
	}
	for i, c := range in.d.TCPRetrans {
		if i == maxNamedConns {
			break
		}
		note := fmt.Sprintf("%d of %d segments sent retransmitted, rtt %.1f ms, cwnd %d", c.TotalRetrans, c.SegsOut, float64(c.RTT)/1000, c.SndCwnd)
		if c.CC != "" {
			note += ", " + c.CC
		}
		o.evidence = append(o.evidence, in.note("tcp "+c.Local+" → "+c.Remote, uint64(c.TotalRetrans), note))
	}
	id := in.id(p)
	o.say(always(id + ": no knob on this host reaches loss on the path: look at the peers named in the evidence (mtr, the peer's drop counters)"))
	cc, _ := in.sysctlValue("net.ipv4.tcp_congestion_control")
	avail, _ := in.sysctlValue("net.ipv4.tcp_available_congestion_control")
	switch cc = strings.TrimSpace(cc); {
	case cc == "bbr":
	case contains(strings.Fields(avail), "bbr"):
		o.say(always(fmt.Sprintf("%s: congestion control is %s; BBR (available in this kernel) keeps its rate under random loss where loss-based control backs off: consider net.ipv4.tcp_congestion_control=bbr (with the fq qdisc for pacing), or TCP_CONGESTION per application — advice, nettune does not change it", id, cc)))
	case avail != "":
		o.say(always(id + ": BBR, which copes better with random loss, is not among this kernel's available congestion controls (" + strings.TrimSpace(avail) + ")"))
	}
	return o
}

// anyDrop says whether any place of the interval counted a drop, as observedDrops > 0 would.
func (in *input) anyDrop() bool { return in.localDropsUpTo(1) > 0 }

// localDropsUpTo adds up the drops of every place of the interval (counters and drop reasons
// both, so a drop both saw counts twice: an upper bound) and stops once the sum reaches
// limit. The path-loss and squeeze rules only ask whether the host dropped that much, and
// building observedDrops's exact account (a fresh input, a map over every link's stages) was
// half the analysis of a busy host (docs/benchmarks.md, issue 17).
func (in *input) localDropsUpTo(limit uint64) uint64 {
	var n uint64
	add := func(rows []row) bool {
		for _, r := range rows {
			n += r.drop
		}
		return n >= limit
	}
	for i := range in.d.Links {
		l := &in.d.Links[i]
		if add(in.linkRx(nil, l, -1, nil)) || add(in.linkTx(nil, l, nil)) {
			return n
		}
	}
	if srx, stx := in.socketRows(nil); add(srx) || add(stx) {
		return n
	}
	for _, c := range in.d.Softnet {
		n += uint64(c.Dropped) + uint64(c.FlowLimitCount)
	}
	if ip := in.d.InPath; ip != nil {
		for _, p := range ip.Foreign {
			xdp, tc := in.pointsByQueue(p.Link, model.PointXDP), in.pointsByQueue(p.Link, model.PointTCIngress)
			for q, x := range xdp {
				n += x - min(x, tc[q])
			}
		}
	}
	if n >= limit {
		return n
	}
	for _, x := range in.reasonDrops() {
		n += x
	}
	return n
}

func hasDrop(rows []row) bool {
	for _, r := range rows {
		if r.drop > 0 {
			return true
		}
	}
	return false
}
