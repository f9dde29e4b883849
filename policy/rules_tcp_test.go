package policy

import (
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

func (b *db) listeners(ls ...model.TCPListener) *db { b.d.Cur.TCPListeners = ls; return b }

// dropping sets the connections that dropped in the interval, as Diff leaves them.
func (b *db) dropping(cs ...model.TCPConn) *db { b.d.TCPDropping = cs; return b }

func conn(local, remote string, inode, drops uint64) model.TCPConn {
	return model.TCPConn{Local: local, Remote: remote, Inode: inode, State: "established", Drops: drops, RcvBuf: 8192}
}

func overflows() *db {
	return newDelta().snmp(map[string]uint64{"Tcp.PassiveOpens": 1000, "TcpExt.ListenOverflows": 500, "TcpExt.ListenDrops": 500})
}

func tcpCases() []ruleCase {
	return []ruleCase{
		{name: "accept queue at the application's backlog", stage: stage.TCPAcceptQueue, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: overflows().listeners(model.TCPListener{Local: "198.18.0.1:80", AcceptQueue: 21, Backlog: 20},
				model.TCPListener{Local: "198.18.0.1:22", Backlog: 4096}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Knobs) != 0 || !hasAdvice(r, "listen() backlog is the limit of 198.18.0.1:80 (backlog 20) (somaxconn 4096 is larger)") {
					t.Errorf("knobs %v advice %v", f.Knobs, r.Advice)
				}
				if x := evidence(f, "tcp listener 198.18.0.1:80"); x == nil || !strings.Contains(x.Note, "accept queue 21 of 20") || evidence(f, "tcp listener 198.18.0.1:22") != nil {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "accept queue at somaxconn", stage: stage.TCPAcceptQueue, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: overflows().listeners(model.TCPListener{Local: "198.18.0.1:80", AcceptQueue: 4097, Backlog: 4096}).build(),
			plan:  []string{"sysctl:net.core.somaxconn"}},
		{name: "accept queues drained: somaxconn when one listener's limit is somaxconn", stage: stage.TCPAcceptQueue, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: overflows().listeners(model.TCPListener{Local: "198.18.0.1:80", Backlog: 20}, model.TCPListener{Local: "198.18.0.1:81", Backlog: 4096}).build(),
			plan:  []string{"sysctl:net.core.somaxconn"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "198.18.0.1:80 (backlog 20)") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "syn flood without cookies", stage: stage.TCPAcceptQueue, class: stage.ClassPolicy, severity: SeverityWarning,
			delta: newDelta().sysctl("net.ipv4.tcp_syncookies", "0").
				snmp(map[string]uint64{"Tcp.InSegs": 20000, "Tcp.PassiveOpens": 0, "TcpExt.TCPReqQFullDrop": 19800, "TcpExt.ListenDrops": 19800}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Knobs) != 0 || !strings.Contains(f.Summary, "SYN flood") || !hasAdvice(r, "tcp_syncookies is 0: set it to 1") ||
					!hasAdvice(r, "somaxconn is not raised for a flood") {
					t.Errorf("finding %+v advice %v", f, r.Advice)
				}
			}},
		{name: "syn flood answered by cookies", stage: stage.TCPAcceptQueue, class: stage.ClassPolicy, severity: SeverityInfo,
			delta: newDelta().sysctl("net.ipv4.tcp_syncookies", "1").
				snmp(map[string]uint64{"Tcp.InSegs": 20000, "Tcp.PassiveOpens": 0, "TcpExt.TCPReqQFullDoCookies": 19800}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "SYN cookies answer") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "loss past the host", stage: stage.NICTx, class: stage.ClassBenign, severity: SeverityInfo,
			delta: pathLoss().build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.ID != "nic-tx/host/past-host" || f.DropRate != 0 || r.Loss() {
					t.Errorf("finding %+v", f)
				}
				if x := evidence(f, "tcp 198.18.0.1:40000 → 198.18.0.2:5201"); x == nil || x.Delta != 400 || !strings.Contains(x.Note, "rtt 1.5 ms") {
					t.Errorf("evidence %+v", f.Evidence)
				}
				if !hasAdvice(r, "BBR (available in this kernel)") || !hasAdvice(r, "no knob on this host reaches loss on the path") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "squeezes below dev_weight", stage: stage.SoftirqBudget, class: stage.ClassCapacity, severity: SeverityInfo,
			delta: newDelta().sysctl("net.core.netdev_budget", "16").sysctl("net.core.dev_weight", "64").
				softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.TimeSqueeze = 50000, 500 }).netRx(1000, 1000).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(r.Plan) != 0 || !hasAdvice(r, "netdev_budget 16 is below dev_weight 64") || !hasAdvice(r, "cost latency, not packets") {
					t.Errorf("plan %+v advice %v", r.Plan, r.Advice)
				}
			}},
	}
}

func pathLoss() *db {
	return newDelta().sysctl("net.ipv4.tcp_congestion_control", "cubic").
		sysctl("net.ipv4.tcp_available_congestion_control", "reno cubic bbr").
		snmp(map[string]uint64{"Tcp.OutSegs": 10000, "Tcp.RetransSegs": 500, "Tcp.InSegs": 9000}).
		tcpRetrans(model.TCPConn{Local: "198.18.0.1:40000", Remote: "198.18.0.2:5201", TotalRetrans: 400, SegsOut: 8000, RTT: 1500, SndCwnd: 10, CC: "cubic"})
}

func (b *db) tcpRetrans(cs ...model.TCPConn) *db { b.d.TCPRetrans = cs; return b }

func TestTCPRules(t *testing.T) {
	for _, tc := range tcpCases() {
		t.Run(tc.name, tc.run)
	}
}

// Local drops explain as many retransmissions as they are: as many or more leave no loss
// past the host; fewer leave the rest (TCP's receive drops here, a stray backlog drop in
// an emulated guest: docs/rules.md row 18).
func TestRetransWithLocalDropsIsNotPathLoss(t *testing.T) {
	pastHost := func(r *Report) *Finding {
		for i := range r.Findings {
			if r.Findings[i].Stage == stage.NICTx {
				return &r.Findings[i]
			}
		}
		return nil
	}
	r := analyze(t, pathLoss().snmp(map[string]uint64{"TcpExt.TCPRcvQDrop": 600}).build(), DefaultConfig())
	if f := pastHost(r); f != nil || find(r, stage.TCPRcvbuf) == nil {
		t.Errorf("local drops above the retransmissions: findings %+v", r.Findings)
	}
	r = analyze(t, pathLoss().snmp(map[string]uint64{"TcpExt.TCPRcvQDrop": 300}).build(), DefaultConfig())
	if f := pastHost(r); f == nil || find(r, stage.TCPRcvbuf) == nil || evidence(f, "drops on this host") == nil ||
		!strings.Contains(evidence(f, "drops on this host").Note, "200 are not") {
		t.Errorf("local drops below the retransmissions: findings %+v", r.Findings)
	}
	stray := pathLoss().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 1 }).build()
	if f := pastHost(analyze(t, stray, DefaultConfig())); f == nil {
		t.Error("one backlog drop hid 500 retransmissions")
	}
}

// TCP memory pressure without a receive drop is an info finding with no plan: from the time
// counter when pressure ended in the interval, from sockstat at or above tcp_mem[1] when it
// is still on; with drops tcp-rcvbuf carries it instead. high_order_alloc_disable is advice
// only where the kernel has the key.
func TestTCPMemPressureIsInfo(t *testing.T) {
	pressed := func() *db {
		return newDelta().sysctl("net.ipv4.tcp_mem", "20 50 100000").sysctl("net.core.high_order_alloc_disable", "0").
			snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPMemoryPressures": 1, "TcpExt.TCPMemoryPressuresChrono": 1500})
	}
	for _, tc := range []struct {
		name    string
		d       *model.Delta
		finding bool
	}{
		{"ended in the interval", pressed().sockstat(0, 10).build(), true},
		{"still on", newDelta().sysctl("net.ipv4.tcp_mem", "20 50 100000").sockstat(0, 444).build(), true},
		{"between the thresholds with no counter", newDelta().sysctl("net.ipv4.tcp_mem", "20 50 100000").sockstat(0, 30).build(), false},
		{"with drops tcp-rcvbuf has it", pressed().snmp(map[string]uint64{"TcpExt.TCPRcvQDrop": 500}).sockstat(0, 444).build(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyze(t, tc.d, DefaultConfig())
			var f *Finding
			for i := range r.Findings {
				if r.Findings[i].ID == "tcp-rcvbuf/host/memory-pressure" {
					f = &r.Findings[i]
				}
			}
			if (f != nil) != tc.finding {
				t.Fatalf("findings %+v", r.Findings)
			}
			if f == nil {
				return
			}
			if f.Severity != SeverityInfo || f.Class != stage.ClassCapacity || len(r.Plan) != 0 || !hasAdvice(r, "nettune proposes tcp_mem only when receive drops follow") {
				t.Errorf("finding %+v plan %+v advice %v", f, r.Plan, r.Advice)
			}
			if _, has := tc.d.Cur.Sysctls["net.core.high_order_alloc_disable"]; hasAdvice(r, "high_order_alloc_disable=1") != has {
				t.Errorf("high_order_alloc_disable advice %v with the key present %v", r.Advice, has)
			}
		})
	}
}

// A segment TCP refused after a prune that could not make room counts in both TCPRcvQDrop
// and RcvPruned (tcp_prune_queue, then tcp_data_queue): the finding counts it once, and
// shows RcvPruned as evidence.
func TestTCPRcvbufCountsAPrunedDropOnce(t *testing.T) {
	rcvbuf := func(pruned uint64) *Finding {
		r := analyze(t, newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 400,
			"TcpExt.TCPOFODrop": 100, "TcpExt.RcvPruned": pruned}).build(), DefaultConfig())
		f := find(r, stage.TCPRcvbuf)
		if f == nil {
			t.Fatalf("no tcp-rcvbuf finding in %+v", r.Findings)
		}
		return f
	}
	with, without := rcvbuf(500), rcvbuf(0)
	if with.DropRate != without.DropRate || with.DropRate == 0 || evidence(with, "TcpExt.RcvPruned") == nil {
		t.Errorf("drop rate %v with RcvPruned, %v without (evidence %+v): want the same, with RcvPruned as evidence",
			with.DropRate, without.DropRate, with.Evidence)
	}
}
