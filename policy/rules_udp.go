package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/model/stage"
)

// udpRule: docs/rules.md row 11 (UDP receive buffer) and the UDP half of row 14 (send
// errors); UDP memory is row 16 (rules_sockmem.go). IPv4 and IPv6 UDP counters are added (the
// knobs are shared).
func udpRule(in *input) output {
	var out output
	out.add(udpRcvbuf(in), udpSndbuf(in))
	return out
}

func (in *input) udpEvidence(field string, b base, total uint64) []Evidence {
	return nonZero([]Evidence{
		in.ev("Udp."+field, in.snmp("Udp."+field), b, total),
		in.ev("Udp6."+field, in.snmp("Udp6."+field), b, total),
	})
}

func udpRcvbuf(in *input) *obs {
	drops := in.udp("RcvbufErrors")
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.UDPRcvbuf}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b,
		summary:  "UDP datagrams were dropped because a socket's receive buffer was full: the application reads slower than datagrams arrive, or its buffer is too small for the bursts",
		evidence: in.udpEvidence("RcvbufErrors", b, drops), sockets: in.udpSockets()}
	id := in.id(p)
	o.say(always(id + ": if the receiving application is CPU-bound, buffers only delay the loss: add reader threads or sockets (SO_REUSEPORT); per-socket drops are in /proc/net/udp (drops) and ss -uam"))
	if pl := in.udpPool(); pl.atLimit() {
		// a full pool refuses every socket's memory: a bigger per-socket buffer only asks for
		// more of what is not there (docs/rules.md row 16)
		o.evidence = append(o.evidence, pl.evidence(in))
		o.say(always(id + ": UDP memory as a whole is at its limit (udp_mem): per-socket buffer sysctls cannot help until the pool is raised"))
		o.offer(udpMemProposal(pl))
		return o
	}
	k := in.classifyUDPSockets(drops)
	o.evidence = append(o.evidence, k.evidence...)
	if len(k.appChosen) > 0 {
		msg := fmt.Sprintf("%s: %s set their own receive buffer (SO_RCVBUF): no sysctl enlarges it. Raise SO_RCVBUF in the application and restart it; net.core.rmem_max (%d) bounds the request and the kernel doubles it, so %d is the most it gets without raising rmem_max",
			id, strings.Join(k.appChosen, ", "), k.rmemMax, 2*k.rmemMax)
		if k.guessed {
			msg += ". A socket created before rmem_default last changed looks the same: restarting it is enough"
		}
		o.say(always(msg))
	}
	if k.defaultSized || k.unknown {
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.core.rmem_default",
			mem:  func(cur, next int64) int64 { return next - cur },
			risk: "every socket created afterwards (UDP and others that do not set SO_RCVBUF) may hold this much more receive memory; the estimate is per socket",
			why:  "applications that never call setsockopt(SO_RCVBUF) get rmem_default as their receive buffer; existing sockets keep their size, so the application must reopen its socket (restart)",
		}))
	}
	if k.clamped || k.unknown {
		o.offer(sysctlProposal(sysctlStep{
			key:  "net.core.rmem_max",
			mem:  func(cur, next int64) int64 { return 2 * (next - cur) },
			risk: "raises only the ceiling: memory is used when an application asks for it (the kernel doubles SO_RCVBUF requests); the estimate is per such socket",
			why:  "applications that set SO_RCVBUF are clamped to rmem_max when they call setsockopt: after raising it the application must set SO_RCVBUF again (usually a restart) and ask for a larger buffer",
		}))
	}
	return o
}

// udpSocketKinds sorts the sockets that dropped in the interval by whether the application set
// SO_RCVBUF, which the kernel records in the socket's lock flags (RcvBufSet) and nettune reads
// where the socket iterator runs. Without it, what their receive buffer (sk_rcvbuf) says
// about the application: the kernel gives a new socket rmem_default, and
// SO_RCVBUF sets 2 × min(request, rmem_max) (sock_init_data, __sock_set_rcvbuf in
// net/core/sock.c), so: == rmem_default → never set SO_RCVBUF; == 2 × rmem_max → asked for at
// least the ceiling; anything else → the application's own choice (or a socket created before
// rmem_default changed, which looks the same).
type udpSocketKinds struct {
	defaultSized, clamped bool
	unknown               bool     // some of the loss cannot be attributed: propose both knobs
	appChosen             []string // "198.18.0.2:9000 (rcvbuf 16384)"
	guessed               bool     // some of appChosen come from the buffer's size, not the lock flags
	rmemMax               int64
	evidence              []Evidence
}

func (in *input) classifyUDPSockets(drops uint64) udpSocketKinds {
	var k udpSocketKinds
	def, okDef := in.sysctlInt("net.core.rmem_default")
	rmax, okMax := in.sysctlInt("net.core.rmem_max")
	k.rmemMax = rmax
	var seen uint64
	for _, s := range in.d.UDPSockets {
		if s.Drops == 0 {
			continue
		}
		seen += s.Drops
		rb := int64(s.RcvBuf)
		note := fmt.Sprintf("inode %d, rcvbuf %d", s.Inode, s.RcvBuf)
		switch {
		case s.RcvBufSet != nil && s.RcvBuf != 0 && okMax && !*s.RcvBufSet:
			// the kernel says the application never set SO_RCVBUF: its buffer is rmem_default
			// as it was when the socket was created
			k.defaultSized = true
			note += ": SO_RCVBUF never set (socket lock flags)"
		case s.RcvBufSet != nil && s.RcvBuf != 0 && okMax && rb == 2*rmax:
			k.clamped = true
			note += " = 2 × rmem_max: SO_RCVBUF set and clamped at the ceiling"
		case s.RcvBufSet != nil && s.RcvBuf != 0 && okMax:
			k.appChosen = append(k.appChosen, fmt.Sprintf("%s (rcvbuf %d)", s.Local, s.RcvBuf))
			note += ": SO_RCVBUF set by the application (socket lock flags)"
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
			k.appChosen, k.guessed = append(k.appChosen, fmt.Sprintf("%s (rcvbuf %d)", s.Local, s.RcvBuf)), true
			note += " > 2 × rmem_max: forced above the ceiling (SO_RCVBUFFORCE)"
		default:
			k.appChosen, k.guessed = append(k.appChosen, fmt.Sprintf("%s (rcvbuf %d)", s.Local, s.RcvBuf)), true
			note += " < 2 × rmem_max: SO_RCVBUF chosen by the application"
		}
		k.evidence = append(k.evidence, in.note("udp socket "+s.Local+" drops", s.Drops, note))
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
		k.evidence = append(k.evidence, in.note("udp sockets", seen,
			fmt.Sprintf("the sampled sockets account for %d of %d receive-buffer drops: the rest came from sockets beyond the sample's cap or closed since", seen, drops)))
	}
	return k
}

// udpSndbuf: ENOBUFS on a UDP send is how a qdisc drop looks from the socket (docs/rules.md
// row 14): when qdisc drops account for it, reconcile makes it their evidence, not a
// population of its own.
// sndbufViews are the places whose drops a UDP sender sees as ENOBUFS: a qdisc that dropped
// the packet, and a neighbour table at gc_thresh3 that could not create the entry
// (ip_finish_output2 returns __neigh_create's -ENOBUFS). A neighbour queue that overflows
// drops an older packet and returns no error.
var sndbufViews = []place{{stage: stage.Qdisc}, {stage: stage.Neigh, sub: "table"}}

func udpSndbuf(in *input) *obs {
	errs := in.udp("SndbufErrors")
	if errs == 0 {
		return nil
	}
	p := place{stage: stage.UDPSndbuf}
	b := in.stageBase(p)
	return &obs{place: p, source: sourceCounter, drops: errs, base: b, viewOf: sndbufViews,
		summary:  "UDP sends failed with ENOBUFS (a qdisc or device refused them, or the neighbour table was full; applications rarely see it unless they set IP_RECVERR)",
		evidence: in.udpEvidence("SndbufErrors", b, errs)}
}

const pageSize = 4096
