package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

func TestNoLossNoFinding(t *testing.T) {
	d := newDelta().link("eth0", ring(512, 4096), qdisc(model.Qdisc{Kind: "pfifo_fast", Root: true, Packets: 100000})).
		snmp(map[string]uint64{"Ip.InReceives": 1e5, "Ip.InDelivers": 1e5, "Udp.InDatagrams": 1e5, "Tcp.InSegs": 0}).
		softnet(0, func(c *model.SoftnetCPU) { c.Processed = 100000 }).build()
	r := Analyze(d, DefaultConfig())
	checkInvariants(t, r)
	if len(r.Findings) != 0 || len(r.Plan) != 0 || r.Loss() {
		t.Fatalf("findings %+v plan %+v", r.Findings, r.Plan)
	}
	if len(r.Funnel) == 0 {
		t.Fatal("no funnel")
	}
}

func TestBelowThresholds(t *testing.T) {
	// 5 drops in 10 s = 0.5/s < MinRate; 20 drops of 1e6 = 2e-5 < MinRatio
	for _, n := range []struct{ drops, rx uint64 }{{5, 1000}, {20, 1e6}} {
		d := newDelta().link("eth0", stats(func(s *model.LinkStats) { s.RxMissedErrors, s.RxPackets = n.drops, n.rx })).build()
		if r := Analyze(d, DefaultConfig()); len(r.Findings) != 0 {
			t.Errorf("%+v: finding %+v", n, r.Findings)
		}
	}
}

type ruleCase struct {
	name     string
	delta    *model.Delta
	stage    stage.Stage
	class    stage.Class
	severity Severity
	plan     []string // exact, in order
	check    func(t *testing.T, r *Report, f *Finding)
}

func ruleCases() []ruleCase {
	missed := stats(func(s *model.LinkStats) { s.RxMissedErrors = 2000 })
	return []ruleCase{
		{name: "nic fifo with ring", stage: stage.NICFifo, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", missed, ring(512, 4096)).build(),
			plan:  []string{"ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				a := r.Plan[0]
				if a.Current != "512" || a.Proposed != "1024" || !a.Disruptive || a.Scope != model.ScopeDevice ||
					a.Command != "ethtool -G eth0 rx 1024" || a.MemoryBytes != 512*1*2048 {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "nic phy errors", stage: stage.NICPhy, class: stage.ClassCapacity, severity: SeverityWarning,
			delta: newDelta().link("eth0", stats(func(s *model.LinkStats) { s.RxCrcErrors = 300 }), ring(512, 4096)).build()},
		{name: "nic tx carrier", stage: stage.NICTx, class: stage.ClassCapacity, severity: SeverityWarning,
			delta: newDelta().link("eth0", stats(func(s *model.LinkStats) { s.TxCarrierErrors = 300 })).build()},
		{name: "rx ring on veth has no ring knob", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("veth0", veth, counter("rx_queue_0_drops", stage.RxRing, model.KindDrops, model.Rx, 0, 5000)).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.Queue == nil || *f.Queue != 0 || !hasAdvice(r, "no ring-size operation") {
					t.Errorf("queue %v advice %v", f.Queue, r.Advice)
				}
			}},
		{name: "rx ring at driver max", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", ring(4096, 4096), counter("rx_no_dma_resources", stage.RxRing, model.KindDrops, model.Rx, -1, 5000)).build(),
			plan:  []string{"ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; !a.AtCap || a.Proposed != "4096" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "alloc failures are pressure", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityInfo,
			delta: newDelta().link("eth0", ring(512, 4096), counter("alloc_rx_buff_failed", stage.RxRing, model.KindEvents, model.Rx, -1, 5000)).build()},
		{name: "backlog", stage: stage.Backlog, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 5000 }).build(),
			plan:  []string{"sysctl:net.core.netdev_max_backlog"},
			check: func(t *testing.T, r *Report, f *Finding) {
				a := r.Plan[0]
				if f.CPU == nil || *f.CPU != 1 || f.ID != "backlog/host/cpu1" || f.Netns != "" {
					t.Errorf("finding %+v", f)
				}
				if a.Current != "1000" || a.Proposed != "2000" || a.Command != "sysctl -w net.core.netdev_max_backlog=2000" ||
					a.Scope != model.ScopeGlobal || a.MemoryBytes != 1000*2*2304 {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "flow limit", stage: stage.FlowLimit, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.FlowLimitCount = 50000, 5000 }).build(),
			plan:  []string{"sysctl:net.core.netdev_max_backlog"}},
		{name: "time squeeze alone is pressure", stage: stage.SoftirqBudget, class: stage.ClassCapacity, severity: SeverityInfo,
			delta: newDelta().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.TimeSqueeze = 50000, 500 }).netRx(1000, 1000).build()},
		{name: "time squeeze with ring drops", stage: stage.SoftirqBudget, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", ring(512, 4096), counter("rx_no_dma_resources", stage.RxRing, model.KindDrops, model.Rx, -1, 5000)).
				irq(40, "eth0", 0, 1000, 0).
				softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.TimeSqueeze = 50000, 100 }).netRx(1000, 1000).build(),
			plan: []string{"sysctl:net.core.netdev_budget", "sysctl:net.core.netdev_budget_usecs", "ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.CPU == nil || *f.CPU != 0 || f.DropRate != 0 || action(r, "sysctl:net.core.netdev_budget").Proposed != "600" {
					t.Errorf("finding %+v plan %+v", f, r.Plan)
				}
			}},
		{name: "pfifo_fast overflow", stage: stage.Qdisc, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "pfifo_fast", Root: true, Packets: 90000, Drops: 10000})).build(),
			plan:  []string{"txqueuelen:eth0"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Command != "ip link set dev eth0 txqueuelen 2000" || a.Proposed != "2000" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "pfifo limit", stage: stage.Qdisc, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "pfifo", Handle: "1:", Parent: "root", Root: true, Limit: 5, Packets: 90000, Drops: 10000})).build(),
			plan:  []string{"qdisc-limit:eth0:1:"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Command != "tc qdisc change dev eth0 handle 1: pfifo limit 10" || a.Current != "5" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "aqm drops are policy", stage: stage.AQM, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "fq_codel", Handle: "1:", Root: true, Limit: 10240, Qlen: 30, Packets: 90000, Drops: 10000})).build()},
		{name: "fq_codel at its limit is capacity", stage: stage.Qdisc, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "fq_codel", Handle: "1:", Root: true, Limit: 1000, Qlen: 1000, Packets: 90000, Drops: 10000})).build(),
			plan:  []string{"qdisc-limit:eth0:1:"}},
		{name: "shaper drops are policy", stage: stage.Qdisc, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "tbf", Handle: "1:", Root: true, Packets: 90000, Drops: 10000})).build()},
		{name: "saturated shaper drops are policy", stage: stage.Qdisc, class: stage.ClassPolicy, severity: SeverityCritical,
			// 10 s at 1 MB/s against a 1 MB/s rate: the shaper is the limit.
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "tbf", Handle: "1:", Root: true, Rate: 1e6, Bytes: 1e7, Packets: 9000, Drops: 1000}),
				qdisc(model.Qdisc{Kind: "pfifo", Handle: "10:", Parent: "1:1", Limit: 5, Packets: 9000, Drops: 1000})).build()},
		{name: "bursts under an idle shaper overflow its leaf", stage: stage.Qdisc, class: stage.ClassCapacity, severity: SeverityCritical,
			// the shaper sent at half its rate: the 5-packet leaf fifo overflows on bursts.
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "tbf", Handle: "1:", Root: true, Rate: 2e6, Bytes: 1e7, Packets: 9000, Drops: 1000}),
				qdisc(model.Qdisc{Kind: "pfifo", Handle: "10:", Parent: "1:1", Limit: 5, Packets: 9000, Drops: 1000})).build(),
			plan: []string{"qdisc-limit:eth0:10:"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "10" || !strings.Contains(a.Command, "parent 1:1 handle 10: pfifo limit 10") {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "udp sndbuf explained by qdisc drops is their evidence", stage: stage.Qdisc, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.OutDatagrams": 9000, "Udp.SndbufErrors": 1000}).
				link("eth0", qdisc(model.Qdisc{Kind: "pfifo", Handle: "1:", Root: true, Limit: 100, Packets: 9000, Drops: 1000})).build(),
			plan: []string{"qdisc-limit:eth0:1:"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if find(r, stage.UDPSndbuf) != nil {
					t.Errorf("separate udp-sndbuf finding: %+v", r.Findings)
				}
				if !hasEvidence(f, "Udp.SndbufErrors") {
					t.Errorf("qdisc finding lacks the socket-side evidence: %+v", f.Evidence)
				}
			}},
		{name: "netem loss is configured emulation", stage: stage.Qdisc, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "netem", Handle: "1:", Root: true, Limit: 1000, Packets: 7000, Drops: 3000})).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(r.Plan) != 0 || !hasAdvice(r, "netem") {
					t.Errorf("plan %+v advice %v", r.Plan, r.Advice)
				}
			}},
		{name: "ingress police drops are policy", stage: stage.TCIngress, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("eth0", qdisc(model.Qdisc{Kind: "clsact", Handle: "ffff:", Parent: "ingress", Drops: 10000})).build()},
		{name: "reassembly memory", stage: stage.IPReassembly, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Ip.ReasmReqds": 10000, "Ip.ReasmFails": 1000, "Ip.ReasmTimeout": 10}).build(),
			plan:  []string{"sysctl:net.ipv4.ipfrag_high_thresh"},
			check: func(t *testing.T, r *Report, f *Finding) {
				// Memory held before the change is freed only as datagrams expire (ipfrag_time).
				if a := r.Plan[0]; a.Proposed != "8388608" || a.Scope != model.ScopeNetns || a.MemoryBytes != 4194304 ||
					a.SettleSeconds != 30 {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "IPv6 reassembly memory", stage: stage.IPReassembly, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().sysctl("net.ipv6.ip6frag_time", "60").
				snmp(map[string]uint64{"Ip6.ReasmReqds": 10000, "Ip6.ReasmFails": 1000, "Ip6.ReasmTimeout": 10}).build(),
			plan: []string{"sysctl:net.ipv6.ip6frag_high_thresh"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "8388608" || a.Scope != model.ScopeNetns || a.SettleSeconds != 60 ||
					a.Command != "sysctl -w net.ipv6.ip6frag_high_thresh=8388608" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "reassembly timeouts get no memory", stage: stage.IPReassembly, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Ip.ReasmReqds": 10000, "Ip.ReasmFails": 1000, "Ip.ReasmTimeout": 900}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "MTU/PMTU") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "udp rcvbuf without socket data proposes both knobs", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000, "Udp.InErrors": 10000}).build(),
			plan:  []string{"sysctl:net.core.rmem_default", "sysctl:net.core.rmem_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				max, def := action(r, "sysctl:net.core.rmem_max"), action(r, "sysctl:net.core.rmem_default")
				if max.Proposed != "8388608" || def.Proposed != "425984" || !strings.Contains(max.Why, "SO_RCVBUF") ||
					!strings.Contains(def.Why, "never call setsockopt") || max.MemoryBytes != 2*4194304 {
					t.Errorf("rmem_max %+v rmem_default %+v", max, def)
				}
			}},
		{name: "udp rcvbuf from a default-sized socket", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("198.18.0.2:5353", 11, 9000, 212992)).build(),
			plan:  []string{"sysctl:net.core.rmem_default"},
			check: func(t *testing.T, r *Report, f *Finding) {
				x := evidence(f, "udp socket 198.18.0.2:5353 drops")
				if x == nil || x.Delta != 9000 || x.Rate != 900 || !strings.Contains(x.Note, "rcvbuf 212992 = rmem_default: never set SO_RCVBUF") {
					t.Errorf("evidence %+v", f.Evidence)
				}
				if !reflect.DeepEqual(f.Knobs, []string{"sysctl:net.core.rmem_default"}) || hasAdvice(r, "set their own receive buffer") {
					t.Errorf("knobs %v advice %v", f.Knobs, r.Advice)
				}
			}},
		{name: "udp rcvbuf from a socket clamped at rmem_max", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("[::]:9001", 12, 9000, 8388608)).build(),
			plan:  []string{"sysctl:net.core.rmem_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if x := evidence(f, "udp socket [::]:9001 drops"); x == nil || !strings.Contains(x.Note, "= 2 × rmem_max: SO_RCVBUF clamped") {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "udp rcvbuf from a socket the application sized", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("198.18.0.2:9000", 13, 6000, 16384), udpSock("198.18.0.2:9002", 14, 3000, 16777216)).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Knobs) != 0 {
					t.Errorf("knobs %v", f.Knobs)
				}
				if !hasAdvice(r, "198.18.0.2:9000 (rcvbuf 16384), 198.18.0.2:9002 (rcvbuf 16777216) set their own receive buffer (SO_RCVBUF)") ||
					!hasAdvice(r, "Raise SO_RCVBUF in the application") || !hasAdvice(r, "net.core.rmem_max (4194304) bounds the request") {
					t.Errorf("advice %v", r.Advice)
				}
				if x := evidence(f, "udp socket 198.18.0.2:9002 drops"); x == nil || !strings.Contains(x.Note, "SO_RCVBUFFORCE") {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "udp rcvbuf from a socket older than the current rmem_default", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().sysctl("net.core.rmem_default", "425984").udpSockets(udpSock("198.18.0.2:5353", 11, 9000, 212992)).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "198.18.0.2:5353 (rcvbuf 212992)") || !hasAdvice(r, "created before rmem_default last changed looks the same: restarting it is enough") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "udp rcvbuf from both kinds of socket", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("198.18.0.2:5353", 11, 5000, 212992), udpSock("[::]:9001", 12, 4000, 8388608),
				udpSock("198.18.0.2:9000", 13, 1000, 16384)).build(),
			plan: []string{"sysctl:net.core.rmem_default", "sysctl:net.core.rmem_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "198.18.0.2:9000 (rcvbuf 16384) set their own") || len(f.Evidence) != 1+3 {
					t.Errorf("advice %v evidence %+v", r.Advice, f.Evidence)
				}
			}},
		{name: "udp rcvbuf with buffers unknown proposes both knobs", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("198.18.0.2:5353", 11, 9000, 0)).build(),
			plan:  []string{"sysctl:net.core.rmem_default", "sysctl:net.core.rmem_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if x := evidence(f, "udp socket 198.18.0.2:5353 drops"); x == nil || !strings.Contains(x.Note, "rcvbuf unknown") {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "udp rcvbuf mostly from unsampled sockets proposes both knobs", stage: stage.UDPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: udpLoss().udpSockets(udpSock("198.18.0.2:9000", 13, 1000, 16384)).build(),
			plan:  []string{"sysctl:net.core.rmem_default", "sysctl:net.core.rmem_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if x := evidence(f, "udp sockets"); x == nil || x.Delta != 1000 || !strings.Contains(x.Note, "1000 of 10000") {
					t.Errorf("evidence %+v", f.Evidence)
				}
			}},
		{name: "udp mem", stage: stage.UDPMem, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.MemErrors": 10000}).build(),
			plan:  []string{"sysctl:net.ipv4.udp_mem"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "376308 501748 752616" || a.Current != "188154 250874 376308" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "udp sndbuf", stage: stage.UDPSndbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.OutDatagrams": 90000, "Udp.SndbufErrors": 10000}).build()},
		{name: "closed-port scan is benign", stage: stage.NoListener, class: stage.ClassBenign, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 100, "Udp.NoPorts": 10000}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if r.Loss() || len(r.Findings) != 1 {
					t.Errorf("loss %v findings %+v", r.Loss(), r.Findings)
				}
			}},
		{name: "rp_filter is policy", stage: stage.PolicyDrop, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Ip.InReceives": 100000, "TcpExt.IPReversePathFilter": 5000}).build()},
		{name: "no route is policy", stage: stage.IP, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Ip.InReceives": 100000, "IpExt.InNoRoutes": 5000}).build()},
		{name: "tcp rcvbuf", stage: stage.TCPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 2000, "TcpExt.PruneCalled": 50}).build(),
			plan:  []string{"sysctl:net.ipv4.tcp_rmem"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "4096 131072 12582912" || a.Command != `sysctl -w net.ipv4.tcp_rmem="4096 131072 12582912"` {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "tcp rcvbuf with memory pressure", stage: stage.TCPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 2000, "TcpExt.TCPMemoryPressures": 3}).build(),
			plan:  []string{"sysctl:net.ipv4.tcp_rmem", "sysctl:net.ipv4.tcp_mem"}},
		{name: "prune alone is pressure", stage: stage.TCPRcvbuf, class: stage.ClassCapacity, severity: SeverityInfo,
			delta: newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.PruneCalled": 5000}).build()},
		{name: "tcp backlog", stage: stage.TCPBacklog, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPBacklogDrop": 2000}).build()},
		{name: "accept queue", stage: stage.TCPAcceptQueue, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Tcp.PassiveOpens": 1000, "TcpExt.ListenOverflows": 500, "TcpExt.ListenDrops": 500}).build(),
			plan:  []string{"sysctl:net.core.somaxconn"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "8192" || a.Scope != model.ScopeNetns || !strings.Contains(a.Why, "listen again") {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "veth xdp drops are policy", stage: stage.XDP, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("veth0", veth, counter("rx_queue_0_xdp_drops", stage.XDP, model.KindDrops, model.Rx, 0, 5000)).build()},
		{name: "foreign xdp program", stage: stage.XDP, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().link("veth0", veth).inPath(&model.InPath{XDPMode: "native",
				Points: []model.PointCount{
					{Point: model.PointXDP, Link: "veth0", Queue: 0, Packets: 100000},
					{Point: model.PointTCIngress, Link: "veth0", Queue: 0, Packets: 60000}},
				Foreign: []model.ForeignProg{{Link: "veth0", Hook: "xdp", ID: 7, Name: "fw"}}}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.DropRate != 4000 {
					t.Errorf("drop rate %v", f.DropRate)
				}
			}},
		{name: "netfilter reason without counter", stage: stage.PolicyDrop, class: stage.ClassPolicy, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Ip.InReceives": 100000}).inPath(&model.InPath{
				Drops: []model.DropCount{{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: 3000}}}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Reasons) != 1 || f.Reasons[0].Reason != "NETFILTER_DROP" {
					t.Errorf("reasons %+v", f.Reasons)
				}
			}},
		{name: "backlog drop reason attached", stage: stage.Backlog, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("veth1", veth, stats(func(s *model.LinkStats) { s.RxDropped = 4000 })).
				softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 4000 }).
				inPath(&model.InPath{Drops: []model.DropCount{{Reason: "CPU_BACKLOG", Link: "veth1", Location: "enqueue_to_backlog+0x1", Count: 3900}}}).build(),
			plan: []string{"rps:veth1:rx-0", "sysctl:net.core.netdev_max_backlog"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Reasons) != 1 || f.Reasons[0].Count != 3900 {
					t.Errorf("reasons %+v", f.Reasons)
				}
			}},
		{name: "no socket reason joins NoPorts", stage: stage.NoListener, class: stage.ClassBenign, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 100, "Udp.NoPorts": 10000}).inPath(&model.InPath{
				Drops: []model.DropCount{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x1", Count: 10000}}}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(r.Findings) != 1 || len(f.Reasons) != 1 {
					t.Errorf("findings %+v", r.Findings)
				}
			}},
		{name: "tcp socket rcvbuf reason", stage: stage.TCPRcvbuf, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000}).inPath(&model.InPath{
				Drops: []model.DropCount{{Reason: "SOCKET_RCVBUFF", Location: "tcp_data_queue+0x55", Count: 3000}}}).build()},
		{name: "rps for a single-queue veth with a busy CPU", stage: stage.Backlog, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("veth1", veth, stats(func(s *model.LinkStats) { s.RxDropped = 4000 })).
				softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 4000 }).netRx(10000, 100).build(),
			plan: []string{"rps:veth1:rx-0", "sysctl:net.core.netdev_max_backlog"},
			check: func(t *testing.T, r *Report, f *Finding) {
				a := r.Plan[0]
				if a.Proposed != "2" || a.Current != "0" || a.Command != "echo 2 > /sys/class/net/veth1/queues/rx-0/rps_cpus" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "rps for a veth whose per-queue packet counters read zero", stage: stage.Backlog, class: stage.ClassCapacity, severity: SeverityCritical,
			// veth counts rx_queue_N_xdp_packets only in NAPI mode: all-zero is "no data",
			// not "idle queue".
			delta: newDelta().link("veth1", veth, stats(func(s *model.LinkStats) { s.RxDropped = 4000 }),
				counter("rx_queue_0_xdp_packets", stage.RxRing, model.KindPackets, model.Rx, 0, 0)).
				softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 4000 }).netRx(10000, 100).build(),
			plan: []string{"rps:veth1:rx-0", "sysctl:net.core.netdev_max_backlog"}},
		{name: "irq affinity spreads crowded queue irqs", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", queues(2), ring(4096, 4096),
				counter("rx_queue_1_drops", stage.RxRing, model.KindDrops, model.Rx, 1, 5000)).
				irq(40, "eth0", 0, 500, 0).irq(41, "eth0", 1, 5000, 0).netRx(10000, 10).build(),
			plan: []string{"irq-affinity:41", "ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "1" || a.Command != "echo 1 > /proc/irq/41/smp_affinity_list" || a.Scope != model.ScopeGlobal {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "irqbalance turns affinity into advice", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", queues(2), ring(4096, 4096),
				counter("rx_queue_1_drops", stage.RxRing, model.KindDrops, model.Rx, 1, 5000)).
				irq(40, "eth0", 0, 500, 0).irq(41, "eth0", 1, 5000, 0).netRx(10000, 10).irqbalance().build(),
			plan: []string{"ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "irqbalance is running") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "channels before rps on a physical nic", stage: stage.RxRing, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().link("eth0", ring(512, 4096), func(l *model.Link) { l.Channels = &model.Channels{Combined: 1, MaxCombined: 4} },
				counter("rx_out_of_buffer", stage.RxRing, model.KindDrops, model.Rx, -1, 5000)).netRx(10000, 10).build(),
			plan: []string{"ethtool-channels:eth0", "ethtool-ring:eth0:rx"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; a.Proposed != "2" || !a.Disruptive || a.Command != "ethtool -L eth0 combined 2" {
					t.Errorf("action %+v", a)
				}
			}},
	}
}

func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, tc.run)
	}
}

// run checks one case: the finding's stage, class and severity, its evidence, the exact plan
// knobs, no plan for policy or benign findings, and the case's own checks.
func (tc ruleCase) run(t *testing.T) {
	r := Analyze(tc.delta, DefaultConfig())
	checkInvariants(t, r)
	f := find(r, tc.stage)
	if f == nil {
		t.Fatalf("no %s finding in %+v", tc.stage, r.Findings)
	}
	if f.Class != tc.class || f.Severity != tc.severity {
		t.Errorf("class %s severity %s, want %s %s (%+v)", f.Class, f.Severity, tc.class, tc.severity, f)
	}
	if len(f.Evidence) == 0 || f.Summary == "" {
		t.Errorf("finding without evidence or summary: %+v", f)
	}
	if got := knobs(r); !reflect.DeepEqual(got, append([]string{}, tc.plan...)) {
		t.Errorf("plan %v, want %v", got, tc.plan)
	}
	if tc.class != stage.ClassCapacity && len(r.Plan) > 0 {
		t.Errorf("%s finding got a plan: %+v", tc.class, r.Plan)
	}
	if tc.check != nil {
		tc.check(t, r, f)
	}
}

func hasAdvice(r *Report, s string) bool {
	for _, a := range r.Advice {
		if strings.Contains(a, s) {
			return true
		}
	}
	return false
}

func hasEvidence(f *Finding, counter string) bool {
	for _, e := range f.Evidence {
		if e.Counter == counter {
			return true
		}
	}
	return false
}

// udpLoss is 10 % of UDP datagrams dropped at receive buffers.
func udpLoss() *db {
	return newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000})
}

func (b *db) udpSockets(s ...model.UDPSocket) *db { b.d.UDPSockets = s; return b }

func udpSock(local string, inode, drops uint64, rcvbuf uint32) model.UDPSocket {
	return model.UDPSocket{Local: local, Inode: inode, Drops: drops, RcvBuf: rcvbuf}
}

func evidence(f *Finding, counter string) *Evidence {
	for i := range f.Evidence {
		if f.Evidence[i].Counter == counter {
			return &f.Evidence[i]
		}
	}
	return nil
}
