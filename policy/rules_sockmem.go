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
	min   int64  // pages: field 1
	press int64  // pages: the pressure threshold, field 2
	limit int64  // pages: the hard limit, field 3
	// binds is the threshold the kernel refuses at. TCP: the hard limit (under pressure a
	// socket may still grow to its share of it). UDP has no pressure state: above field 1 a
	// socket that holds udp_rmem_min already is refused, so field 1 is UDP's limit
	// (docs/rules.md row 16).
	binds int64
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
	p := in.memPool("net.ipv4.udp_mem", "UDP", func(s *model.Sockstat) uint64 { return s.UDPMem })
	p.binds = p.min
	return p
}

func (in *input) tcpPool() memPool {
	p := in.memPool("net.ipv4.tcp_mem", "TCP", func(s *model.Sockstat) uint64 { return s.TCPMem })
	p.binds = p.limit
	return p
}

func (in *input) memPool(key, name string, pages func(*model.Sockstat) uint64) memPool {
	p := memPool{key: key, name: name}
	v, ok := in.sysctlValue(key)
	f := strings.Fields(v)
	if !ok || len(f) != 3 {
		return p
	}
	var err0, err1, err2 error
	p.min, err0 = strconv.ParseInt(f[0], 10, 64)
	p.press, err1 = strconv.ParseInt(f[1], 10, 64)
	p.limit, err2 = strconv.ParseInt(f[2], 10, 64)
	for _, s := range []*model.Sample{in.d.Prev, in.d.Cur} {
		if s != nil && s.Sockstat != nil {
			p.peak = max(p.peak, pages(s.Sockstat))
			p.known = true
		}
	}
	p.known = p.known && err0 == nil && err1 == nil && err2 == nil && p.min > 0 && p.limit > 0
	rsv, ok := in.sysctlInt("net.core.mem_pcpu_rsv")
	if !ok {
		rsv = defaultPcpuRsv
	}
	p.slack = rsv * int64(max(in.cur.NCPU, 1))
	return p
}

// atLimit: the pool reached the threshold it refuses at, or is within what the CPUs may hold
// without the shared count showing it. Only with drops the sockets cannot otherwise explain
// does this mean the pool refused them.
func (p memPool) atLimit() bool { return p.known && int64(p.peak)+p.slack >= p.binds }

func (p memPool) evidence(in *input) Evidence {
	note := fmt.Sprintf("%s limit %d pages (pressure from %d)", p.key, p.limit, p.press)
	if p.binds != p.limit {
		note = fmt.Sprintf("%s %d %d %d pages: UDP has no pressure state, so above the first field each socket keeps only udp_rmem_min", p.key, p.min, p.press, p.limit)
	}
	return in.note("sockstat "+p.name+" mem (pages, host-wide)", p.peak,
		fmt.Sprintf("%s; the shared count lags by up to %d pages (per-CPU reserves)", note, p.slack))
}

// atLeast sizes the pool: the threshold it refuses at goes to twice what the pool held at its
// fullest, so the load seen fits with room, plus the slack: the shared count the threshold
// is checked against may stand that far above what the sockets hold (frees batched per
// CPU), so a threshold below it can refuse with the pool empty. The result is the hard
// limit (the field the plan raises, the others scaled with it). Measured: udp_mem raised
// from 20 45 50 in ×2 steps to 320 720 800 still refused 91 % of a burst of 675 pages
// (docs/rules.md §6).
func (p memPool) atLeast() int64 {
	if !p.known {
		return 0 // one step
	}
	need := 2*max(int64(p.peak), p.binds) + p.slack
	return (need*p.limit + p.binds - 1) / p.binds
}

func udpMemProposal(p memPool) proposal {
	return sysctlProposal(sysctlStep{
		key:     "net.ipv4.udp_mem",
		mem:     func(cur, next int64) int64 { return (next - cur) * pageSize },
		atLeast: p.atLeast(),
		risk:    "all UDP sockets together may pin this much more kernel memory (pages of 4 KiB assumed)",
		why:     "udp_mem (in pages) bounds the memory of all UDP sockets of the host, whatever each socket's buffer: above its first field each socket keeps only udp_rmem_min, and the pool was there",
	})
}

// udpSocketDrops is the drops of the sampled UDP sockets in the interval.
func (in *input) udpSocketDrops() uint64 { return udpSocketDrops(in.d) }

// udpMemDrops is the datagrams the UDP memory pool refused: Udp.MemErrors, or, while the pool
// is at its limit, the sockets' drops beyond what the UDP counters explain: full buffers, bad
// checksums and socket filters, all in InErrors too, and counted in the socket as well.
func (in *input) udpMemDrops() uint64 {
	n := in.udp("MemErrors")
	if !in.udpPool().atLimit() {
		return n
	}
	n += in.udpPoolInErrors()
	explained := max(in.udp("InErrors"), in.udp("RcvbufErrors")+in.udp("InCsumErrors")+n)
	if s := in.udpSocketDrops(); s > explained {
		n += s - explained
	}
	return n
}

// udpPoolInErrors is the pool's refusals on a kernel without Udp.MemErrors (before 5.11),
// which counted them in InErrors alone: InErrors beyond RcvbufErrors and InCsumErrors,
// taken while the pool is at its limit (socket filters count there too, and nothing tells
// them apart). Where MemErrors exists, that excess is the filters'.
func (in *input) udpPoolInErrors() uint64 {
	_, mem := in.d.SNMP["Udp.MemErrors"]
	_, inErr := in.d.SNMP["Udp.InErrors"]
	if mem || !inErr {
		return 0
	}
	e, named := in.udp("InErrors"), in.udp("RcvbufErrors")+in.udp("InCsumErrors")
	return e - min(e, named)
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
		summary:  "UDP datagrams were dropped because UDP memory as a whole was at its limit (udp_mem: for UDP the first field) or the memory cgroup refused the charge",
		evidence: in.udpEvidence("MemErrors", b, drops), sockets: in.udpSockets()}
	if pl.known {
		o.evidence = append(o.evidence, pl.evidence(in))
	}
	if e := in.udpPoolInErrors(); e > 0 && pl.atLimit() {
		o.source = sourceConfig // the pool reading and its limit say why
		o.evidence = append(o.evidence, in.note("Udp.InErrors", in.udp("InErrors"),
			fmt.Sprintf("this kernel has no Udp.MemErrors (before 5.11) and counts the pool's refusals in InErrors alone: %d beyond RcvbufErrors and InCsumErrors", e)))
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
