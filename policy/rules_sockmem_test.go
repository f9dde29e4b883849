package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// sockstat gives both samples the same memory pool readings (pages).
func (b *db) sockstat(udpMem, tcpMem uint64) *db {
	st := &model.Sockstat{UDPMem: udpMem, TCPMem: tcpMem}
	b.d.Cur.Sockstat = st
	b.d.Prev = &model.Sample{NCPU: b.d.Cur.NCPU, Sockstat: st}
	return b
}

func boolp(v bool) *bool { return &v }

func setSock(s model.UDPSocket, set bool) model.UDPSocket { s.RcvBufSet = boolp(set); return s }

// udpPoolFull: udp_mem as the scenario set it, the pool past its hard limit, and the
// sockets dropping with no UDP counter moving.
func udpPoolFull() *db {
	return newDelta().sysctl("net.ipv4.udp_mem", "20 45 50").sockstat(56, 0).
		snmp(map[string]uint64{"Udp.InDatagrams": 1000}).
		udpSockets(udpSock("198.18.0.2:9000", 11, 6000, 4194304), udpSock("198.18.0.2:9001", 12, 3000, 4194304))
}

func sockmemCases() []ruleCase {
	return []ruleCase{
		{name: "udp pool at its limit with no UDP counter", stage: stage.UDPMem, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpPoolFull().build(),
			plan:  []string{"sysctl:net.ipv4.udp_mem"},
			check: func(t *testing.T, r *Report, f *Finding) {
				// sized from the pool: the first field, UDP's limit, to twice the fullest
				// reading (56 pages) plus the per-CPU slack (2 CPUs × 256 pages) = 624, the
				// others scaled with it
				if a := r.Plan[0]; a.Current != "20 45 50" || a.Proposed != "624 1404 1560" || a.Scope != model.ScopeGlobal {
					t.Errorf("action %+v", a)
				}
				if f.DropRate != 900 || !hasEvidence(f, "sockstat UDP mem (pages, host-wide)") || !hasEvidence(f, "udp sockets drops") {
					t.Errorf("finding %+v", f)
				}
				if find(r, stage.UDPRcvbuf) != nil {
					t.Errorf("findings %+v", r.Findings)
				}
			}},
		{name: "udp rcvbuf while the pool is the limit proposes the pool", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpPoolFull().snmp(map[string]uint64{"Udp.RcvbufErrors": 9000}).build(),
			plan:  []string{"sysctl:net.ipv4.udp_mem"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if !reflect.DeepEqual(f.Knobs, []string{"sysctl:net.ipv4.udp_mem"}) || !hasAdvice(r, "per-socket buffer sysctls cannot help") {
					t.Errorf("knobs %v advice %v", f.Knobs, r.Advice)
				}
			}},
		{name: "udp rcvbuf set by the application at the default size", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(setSock(udpSock("198.18.0.2:9000", 13, 9000, 212992), true)).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Knobs) != 0 || !hasAdvice(r, "198.18.0.2:9000 (rcvbuf 212992) set their own receive buffer") || hasAdvice(r, "looks the same") {
					t.Errorf("knobs %v advice %v", f.Knobs, r.Advice)
				}
				if x := evidence(f, "udp socket 198.18.0.2:9000 drops"); x == nil || !strings.Contains(x.Note, "set by the application") {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "udp rcvbuf never set though sized otherwise", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(setSock(udpSock("198.18.0.2:9000", 13, 9000, 16384), false)).build(),
			plan:  []string{"sysctl:net.core.rmem_default"}},
		{name: "tcp pool at its limit proposes tcp_mem, not tcp_rmem", stage: stage.TCPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().sysctl("net.ipv4.tcp_mem", "20 50 50").sockstat(0, 444).
				snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 2000}).build(),
			plan: []string{"sysctl:net.ipv4.tcp_mem"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "560 1400 1400" || !hasAdvice(r, "tcp_rmem is not raised while the pool is the limit") {
					t.Errorf("action %+v advice %v", a, r.Advice)
				}
			}},
	}
}

// UDP has no pressure state: above udp_mem's first field a socket holding udp_rmem_min is
// refused, whatever the hard limit; TCP's pool, read the same, is far from its limit.
func TestUDPPoolBindsAtItsFirstField(t *testing.T) {
	b := udpPoolFull().sysctl("net.ipv4.udp_mem", "100 200 1000").sysctl("net.ipv4.tcp_mem", "100 200 1000").
		sysctl("net.core.mem_pcpu_rsv", "1").sockstat(150, 150)
	in := newInput(b.build(), Settings{}, DefaultConfig())
	if u, tc := in.udpPool(), in.tcpPool(); !u.atLimit() || tc.atLimit() {
		t.Errorf("udp at limit %v (%+v), tcp at limit %v (%+v)", u.atLimit(), u, tc.atLimit(), tc)
	}
	r := analyze(t, b.build(), DefaultConfig())
	// the first field to 2 × 150 + 2 (2 CPUs × 1 page) = 302, the others scaled with it
	if f := find(r, stage.UDPMem); f == nil || len(r.Plan) == 0 || r.Plan[0].Proposed != "302 604 3020" {
		t.Errorf("finding %+v plan %+v", f, r.Plan)
	}
}

func TestSockmemRules(t *testing.T) {
	for _, tc := range sockmemCases() {
		t.Run(tc.name, tc.run)
	}
}

func TestUDPPoolBelowLimitIsNoFinding(t *testing.T) {
	// the default pool, far from its limit: socket drops nothing else explains are not the pool's
	d := newDelta().sockstat(56, 0).snmp(map[string]uint64{"Udp.InDatagrams": 1000}).
		udpSockets(udpSock("198.18.0.2:9000", 11, 6000, 4194304)).build()
	if r := analyze(t, d, DefaultConfig()); find(r, stage.UDPMem) != nil {
		t.Errorf("findings %+v", r.Findings)
	}
	// without sockstat the pool is unknown: the same
	d.Cur.Sockstat, d.Prev = nil, nil
	d.Cur.Sysctls["net.ipv4.udp_mem"] = "20 45 50"
	if r := analyze(t, d, DefaultConfig()); find(r, stage.UDPMem) != nil {
		t.Errorf("findings %+v", r.Findings)
	}
}

// PROTO_MEM drops no counter counted (the sampled sockets missed them) are the pool's
// account, not drops nobody explains: the pool at its limit gets its knob; below it, the
// memory cgroup refused and udp_mem does not reach it.
func TestProtoMemReasonIsThePools(t *testing.T) {
	protoMem := &model.InPath{Drops: []model.DropCount{{Reason: "PROTO_MEM", Location: "__udp_enqueue_schedule_skb+0x1a4", Count: 5000}}}
	full := newDelta().sysctl("net.ipv4.udp_mem", "20 45 50").sockstat(56, 0).
		snmp(map[string]uint64{"Udp.InDatagrams": 1000}).inPath(protoMem).build()
	r := analyze(t, full, DefaultConfig())
	f := find(r, stage.UDPMem)
	if f == nil || len(r.Findings) != 1 || f.Class != stage.ClassCapacity || len(f.Reasons) != 1 ||
		!strings.Contains(f.Summary, "at its limit") || !hasEvidence(f, "sockstat UDP mem (pages, host-wide)") ||
		!reflect.DeepEqual(f.Knobs, []string{"sysctl:net.ipv4.udp_mem"}) {
		t.Errorf("findings %+v", r.Findings)
	}

	roomy := newDelta().sockstat(56, 0).snmp(map[string]uint64{"Udp.InDatagrams": 1000}).inPath(protoMem).build()
	r = analyze(t, roomy, DefaultConfig())
	f = find(r, stage.UDPMem)
	if f == nil || len(f.Knobs) != 0 || !strings.Contains(f.Summary, "memory cgroup refused") || !hasAdvice(r, "raise the container's memory limit") {
		t.Errorf("findings %+v advice %v", r.Findings, r.Advice)
	}
}

// Before 5.11 the kernel had no Udp.MemErrors and counted the pool's refusals in InErrors
// alone, as many as the sockets dropped: they are the pool's while it is at its limit (the
// 5.10 guest of the kernel matrix gave no finding before this). Where MemErrors exists, an
// InErrors excess is socket filters', not the pool's.
func TestUDPPoolBefore511CountsInErrors(t *testing.T) {
	old := udpPoolFull().snmp(map[string]uint64{"Udp.InErrors": 9000}).build()
	r := analyze(t, old, DefaultConfig())
	if f := find(r, stage.UDPMem); f == nil || f.DropRate != 900 || !hasEvidence(f, "Udp.InErrors") ||
		!reflect.DeepEqual(f.Knobs, []string{"sysctl:net.ipv4.udp_mem"}) {
		t.Errorf("findings %+v", r.Findings)
	}
	filters := newDelta().sysctl("net.ipv4.udp_mem", "20 45 50").sockstat(56, 0).
		snmp(map[string]uint64{"Udp.InDatagrams": 1000, "Udp.InErrors": 500, "Udp.MemErrors": 0}).build()
	if f := find(analyze(t, filters, DefaultConfig()), stage.UDPMem); f != nil {
		t.Errorf("InErrors with MemErrors present taken for the pool: %+v", f)
	}
}
