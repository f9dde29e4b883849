package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// sockmemRule: docs/rules.md row 16. The UDP and TCP memory pools are host-wide: sockstat
// prints their pages, udp_mem and tcp_mem bound them. UDP memory exhaustion moves no UDP
// counter on some kernels, so its drops are the sockets' own drop counts beyond the ones a
// full receive buffer explains, and only while the pool is at its limit.
func sockmemRule(in *input) output {
	var out output
	out.add(udpMem(in))
	return out
}

// memPool is one socket memory pool against its limit.
type memPool struct {
	key   string // udp_mem or tcp_mem
	name  string // "UDP", "TCP"
	limit int64  // pages: the hard limit, field 3
	press int64  // pages: the pressure threshold, field 2
	peak  uint64 // pages: the larger sockstat reading of the two samples
	// slack is how far the shared count may lag what the CPUs hold: each CPU takes up to
	// mem_pcpu_rsv pages before the count moves (docs/rules.md §6).
	slack int64
	known bool
}

// defaultPcpuRsv is the per-CPU reserve in pages where the sysctl is absent: 1 MiB per CPU
// since 6.0 (4 KiB pages).
const defaultPcpuRsv = 256

func (in *input) udpPool() memPool {
	return in.memPool("net.ipv4.udp_mem", "UDP", func(s *model.Sockstat) uint64 { return s.UDPMem })
}

func (in *input) tcpPool() memPool {
	return in.memPool("net.ipv4.tcp_mem", "TCP", func(s *model.Sockstat) uint64 { return s.TCPMem })
}

func (in *input) memPool(key, name string, pages func(*model.Sockstat) uint64) memPool {
	p := memPool{key: key, name: name}
	v, ok := in.sysctlValue(key)
	f := strings.Fields(v)
	if !ok || len(f) != 3 {
		return p
	}
	var err1, err2 error
	p.press, err1 = strconv.ParseInt(f[1], 10, 64)
	p.limit, err2 = strconv.ParseInt(f[2], 10, 64)
	for _, s := range []*model.Sample{in.d.Prev, in.d.Cur} {
		if s != nil && s.Sockstat != nil {
			p.peak = max(p.peak, pages(s.Sockstat))
			p.known = true
		}
	}
	p.known = p.known && err1 == nil && err2 == nil && p.limit > 0
	rsv, ok := in.sysctlInt("net.core.mem_pcpu_rsv")
	if !ok {
		rsv = defaultPcpuRsv
	}
	p.slack = rsv * int64(max(in.cur.NCPU, 1))
	return p
}

// atLimit: the pool reached its hard limit, or is within what the CPUs may hold without the
// shared count showing it. Only with drops the sockets cannot otherwise explain does this
// mean the pool refused them.
func (p memPool) atLimit() bool { return p.known && int64(p.peak)+p.slack >= p.limit }

func (p memPool) evidence(in *input) Evidence {
	return in.note("sockstat "+p.name+" mem (pages, host-wide)", p.peak,
		fmt.Sprintf("%s limit %d pages (pressure from %d); the shared count lags by up to %d pages (per-CPU reserves)",
			p.key, p.limit, p.press, p.slack))
}

// atLeast sizes the pool: twice what it held at its fullest, so the load seen fits with room.
func (p memPool) atLeast() int64 { return 2 * max(int64(p.peak), p.limit) }

func udpMemProposal(p memPool) proposal {
	return sysctlProposal(sysctlStep{
		key:     "net.ipv4.udp_mem",
		mem:     func(cur, next int64) int64 { return (next - cur) * pageSize },
		atLeast: p.atLeast(),
		risk:    "all UDP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
		why:     "udp_mem (in pages) bounds the memory of all UDP sockets of the host, whatever each socket's buffer; its hard limit was reached",
	})
}

// udpSocketDrops is the drops of the sampled UDP sockets in the interval.
func (in *input) udpSocketDrops() uint64 {
	var n uint64
	for _, s := range in.d.UDPSockets {
		n += s.Drops
	}
	return n
}

// udpMemDrops is the datagrams the UDP memory pool refused: Udp.MemErrors, or, while the pool
// is at its limit, the sockets' drops beyond what the UDP counters explain: full buffers, bad
// checksums and socket filters, all in InErrors too, and counted in the socket as well.
func (in *input) udpMemDrops() uint64 {
	n := in.udp("MemErrors")
	if !in.udpPool().atLimit() {
		return n
	}
	explained := max(in.udp("InErrors"), in.udp("RcvbufErrors")+in.udp("InCsumErrors")+n)
	if s := in.udpSocketDrops(); s > explained {
		n += s - explained
	}
	return n
}

func udpMem(in *input) *obs {
	drops := in.udpMemDrops()
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.UDPMem}
	b := in.stageBase(p)
	pl := in.udpPool()
	o := &obs{place: p, source: sourceCounter, covers: true, drops: drops, base: b,
		summary:  "UDP datagrams were dropped because UDP memory as a whole hit its hard limit (udp_mem[2]) or the memory cgroup refused the charge",
		evidence: in.udpEvidence("MemErrors", b, drops), sockets: in.udpSockets()}
	if pl.known {
		o.evidence = append(o.evidence, pl.evidence(in))
	}
	if s := in.udpSocketDrops(); s > 0 && pl.atLimit() {
		o.source = sourceConfig // the pool reading and its limit say why
		o.evidence = append(o.evidence, in.note("udp sockets drops", s,
			fmt.Sprintf("per-socket drops beyond Udp.InErrors %d (full buffers, checksums, filters): the pool refused them (this kernel may count them in no UDP counter)",
				in.udp("InErrors"))))
	}
	id := in.id(p)
	o.say(always(id + ": in a container, check the memory cgroup limit first: socket memory is charged to it"))
	o.offer(udpMemProposal(pl))
	return o
}
