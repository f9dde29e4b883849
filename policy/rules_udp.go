package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/model/stage"
)

// udpRules: docs/rules.md row 11 (UDP receive buffer and UDP memory) and the UDP half of row 14
// (send errors). IPv4 and IPv6 UDP counters are added (the knobs are shared).
func udpRules(e *engine) {
	udpRcvbuf(e)
	udpMem(e)
	udpSndbuf(e)
}

// udp sums a UDP field over IPv4 and IPv6.
func (e *engine) udp(field string) uint64 { return e.snmp("Udp."+field) + e.snmp("Udp6."+field) }

func (e *engine) udpEvidence(field, of string, through uint64) []Evidence {
	return e.nonZero([]Evidence{
		e.ev("Udp."+field, e.snmp("Udp."+field), of, through),
		e.ev("Udp6."+field, e.snmp("Udp6."+field), of, through),
	})
}

func udpRcvbuf(e *engine) {
	in, drops := e.udp("InDatagrams"), e.udp("RcvbufErrors")
	f := e.add(obs{stage: stage.UDPRcvbuf, drops: drops, through: in, of: "Udp.InDatagrams",
		summary:  "UDP datagrams were dropped because a socket's receive buffer was full: the application reads slower than datagrams arrive, or its buffer is too small for the bursts",
		evidence: e.udpEvidence("RcvbufErrors", "Udp.InDatagrams", in)})
	if f == nil {
		return
	}
	e.addAdvice(f.ID + ": if the receiving application is CPU-bound, buffers only delay the loss: add reader threads or sockets (SO_REUSEPORT); per-socket drops are in /proc/net/udp (drops) and ss -uam")
	k := e.classifyUDPSockets(drops)
	f.Evidence = append(f.Evidence, k.evidence...)
	if len(k.appChosen) > 0 {
		e.addAdvice(fmt.Sprintf("%s: %s set their own receive buffer (SO_RCVBUF): no sysctl enlarges it. Raise SO_RCVBUF in the application and restart it; net.core.rmem_max (%d) bounds the request and the kernel doubles it, so %d is the most it gets without raising rmem_max. A socket created before rmem_default last changed looks the same: restarting it is enough",
			f.ID, strings.Join(k.appChosen, ", "), k.rmemMax, 2*k.rmemMax))
	}
	if k.defaultSized || k.unknown {
		e.proposeSysctl(f, sysctlStep{
			key:  "net.core.rmem_default",
			mem:  func(cur, next int64) int64 { return next - cur },
			risk: "every socket created afterwards (UDP and others that do not set SO_RCVBUF) may hold this much more receive memory; the estimate is per socket",
			why:  "applications that never call setsockopt(SO_RCVBUF) get rmem_default as their receive buffer; existing sockets keep their size, so the application must reopen its socket (restart)",
		})
	}
	if k.clamped || k.unknown {
		e.proposeSysctl(f, sysctlStep{
			key:  "net.core.rmem_max",
			mem:  func(cur, next int64) int64 { return 2 * (next - cur) },
			risk: "raises only the ceiling: memory is used when an application asks for it (the kernel doubles SO_RCVBUF requests); the estimate is per such socket",
			why:  "applications that set SO_RCVBUF are clamped to rmem_max when they call setsockopt: after raising it the application must set SO_RCVBUF again (usually a restart) and ask for a larger buffer",
		})
	}
}

// udpSocketKinds sorts the sockets that dropped in the interval by what their receive buffer
// (sk_rcvbuf) says about the application. The kernel gives a new socket rmem_default, and
// SO_RCVBUF sets 2 × min(request, rmem_max) (sock_init_data, __sock_set_rcvbuf in
// net/core/sock.c), so: == rmem_default → never set SO_RCVBUF; == 2 × rmem_max → asked for at
// least the ceiling; anything else → the application's own choice (or a socket created before
// rmem_default changed, which looks the same).
type udpSocketKinds struct {
	defaultSized, clamped bool
	unknown               bool     // some of the loss cannot be attributed: propose both knobs
	appChosen             []string // "198.18.0.2:9000 (rcvbuf 16384)"
	rmemMax               int64
	evidence              []Evidence
}

func (e *engine) classifyUDPSockets(drops uint64) udpSocketKinds {
	var k udpSocketKinds
	def, okDef := e.sysctlInt("net.core.rmem_default")
	rmax, okMax := e.sysctlInt("net.core.rmem_max")
	k.rmemMax = rmax
	var seen uint64
	for _, s := range e.d.UDPSockets {
		if s.Drops == 0 {
			continue
		}
		seen += s.Drops
		rb := int64(s.RcvBuf)
		x := e.ev("udp socket "+s.Local+" drops", s.Drops, "", 0)
		note := fmt.Sprintf("inode %d, rcvbuf %d", s.Inode, s.RcvBuf)
		switch {
		case s.RcvBuf == 0 || !okDef || !okMax:
			k.unknown = true
			note = fmt.Sprintf("inode %d, rcvbuf unknown", s.Inode)
		case rb == def || rb == 2*rmax:
			if rb == def {
				k.defaultSized = true
				note += " = rmem_default: never set SO_RCVBUF"
			}
			if rb == 2*rmax {
				k.clamped = true
				note += " = 2 × rmem_max: SO_RCVBUF clamped at the ceiling"
			}
		case rb > 2*rmax:
			k.appChosen = append(k.appChosen, fmt.Sprintf("%s (rcvbuf %d)", s.Local, s.RcvBuf))
			note += " > 2 × rmem_max: forced above the ceiling (SO_RCVBUFFORCE)"
		default:
			k.appChosen = append(k.appChosen, fmt.Sprintf("%s (rcvbuf %d)", s.Local, s.RcvBuf))
			note += " < 2 × rmem_max: SO_RCVBUF chosen by the application"
		}
		x.Note = note
		k.evidence = append(k.evidence, x)
	}
	// Without socket data (an older sample, a failed reader) nothing is known. Otherwise
	// sockets beyond the sample's cap, or closed before it, may have dropped the rest; the
	// per-socket counts also hold other drops (memory, checksum), so only a clear shortfall
	// counts.
	switch {
	case seen == 0:
		k.unknown = true
	case 2*seen < drops:
		k.unknown = true
		k.evidence = append(k.evidence, Evidence{Counter: "udp sockets", Delta: seen, Rate: e.rate(seen),
			Note: fmt.Sprintf("the sampled sockets account for %d of %d receive-buffer drops: the rest came from sockets beyond the sample's cap or closed since", seen, drops)})
	}
	return k
}

func udpMem(e *engine) {
	in := e.udp("InDatagrams")
	f := e.add(obs{stage: stage.UDPMem, drops: e.udp("MemErrors"), through: in, of: "Udp.InDatagrams",
		summary:  "UDP datagrams were dropped because UDP memory as a whole hit its hard limit (udp_mem[2]) or the memory cgroup refused the charge",
		evidence: e.udpEvidence("MemErrors", "Udp.InDatagrams", in)})
	if f == nil {
		return
	}
	e.addAdvice(f.ID + ": in a container, check the memory cgroup limit first: socket memory is charged to it")
	e.proposeSysctl(f, sysctlStep{
		key:  "net.ipv4.udp_mem",
		mem:  func(cur, next int64) int64 { return (next - cur) * pageSize },
		risk: "all UDP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
		why:  "udp_mem (in pages) bounds the memory of all UDP sockets of the host; its hard limit was reached",
	})
}

func udpSndbuf(e *engine) {
	out := e.udp("OutDatagrams")
	errs := e.udp("SndbufErrors")
	ev := e.udpEvidence("SndbufErrors", "Udp.OutDatagrams", out)
	// ENOBUFS on a UDP send is how a qdisc drop looks from the socket (docs/rules.md row 14): when
	// qdisc findings account for it, it is their evidence, not a stage of its own.
	if q := e.findings(func(x *Finding) bool { return x.Stage == stage.Qdisc || x.Stage == stage.AQM }); len(q) > 0 && errs > 0 {
		var qdrops float64
		for _, f := range q {
			qdrops += f.DropRate
		}
		if e.d.Rate(errs) <= 1.1*qdrops {
			for i := range ev {
				ev[i].Note = joinNote(ev[i].Note, "the senders' side of these qdisc drops (ENOBUFS)")
			}
			q[0].Evidence = append(q[0].Evidence, ev...)
			return
		}
	}
	e.add(obs{stage: stage.UDPSndbuf, drops: errs, through: out, of: "Udp.OutDatagrams",
		summary:  "UDP sends failed with ENOBUFS (qdisc or device refused them; applications rarely see it unless they set IP_RECVERR)",
		evidence: ev})
}

const pageSize = 4096
