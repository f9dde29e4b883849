package policy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// busyHost is quietHost with every socket-level source as full as the readers let it be
// (collect/kstat: 16 UDP sockets, 64 listeners, 16 retransmitting and 16 dropping
// connections), both
// neighbour tables refusing entries, both socket memory pools at their limits, in-path drops
// of many reasons on 200 of the links (PROTO_MEM without an interface among them), and
// protocol counters that fire every socket rule: the analysis with all the rules at work.
func busyHost() *model.Delta {
	d := quietHost()
	b := &db{d: d}
	b.snmp(map[string]uint64{
		"Udp.InErrors": 10000, "Tcp.OutSegs": 1e6, "Tcp.RetransSegs": 5000, "Tcp.PassiveOpens": 1000,
		"TcpExt.ListenOverflows": 400, "TcpExt.ListenDrops": 400, "TcpExt.TCPReqQFullDoCookies": 50,
		"TcpExt.TCPRcvQDrop": 2000, "TcpExt.PruneCalled": 300, "TcpExt.TCPBacklogDrop": 100,
		"TcpExt.TCPMemoryPressures": 2, "TcpExt.TCPMemoryPressuresChrono": 800,
		"Ip.OutRequests": 1e5, "Ip6.OutRequests": 1e4,
	})
	b.sysctl("net.ipv4.udp_mem", "20 45 50").sysctl("net.ipv4.tcp_mem", "20 50 50").sockstat(300, 444)
	b.sysctl("net.ipv4.tcp_congestion_control", "cubic").sysctl("net.ipv4.tcp_available_congestion_control", "reno cubic bbr")
	b.sysctl("net.core.high_order_alloc_disable", "0")
	var socks []model.UDPSocket
	for i := range 16 {
		socks = append(socks, udpSock(fmt.Sprintf("198.18.0.2:%d", 9000+i), uint64(100+i), 1000, 4194304))
	}
	b.udpSockets(socks...)
	var ls []model.TCPListener
	for i := range 64 {
		l := model.TCPListener{Local: fmt.Sprintf("198.18.0.1:%d", 8000+i), Backlog: 4096}
		if i == 0 {
			l.AcceptQueue, l.Backlog = 21, 20
		}
		ls = append(ls, l)
	}
	b.listeners(ls...)
	var cs []model.TCPConn
	for i := range 16 {
		cs = append(cs, model.TCPConn{Local: "198.18.0.1:443", Remote: fmt.Sprintf("198.19.%d.1:40000", i),
			TotalRetrans: 300, SegsOut: 60000, RTT: 2000, SndCwnd: 10, CC: "cubic"})
	}
	b.tcpRetrans(cs...)
	var drop []model.TCPConn
	for i := range 16 {
		drop = append(drop, conn("198.18.0.1:5201", fmt.Sprintf("198.19.%d.1:40000", i), uint64(300+i), 125))
	}
	b.dropping(drop...)
	full := func(name string) model.NeighTable {
		return model.NeighTable{Name: name, Entries: 1088, Counters: map[string]uint64{"table_fulls": 900, "forced_gc_runs": 900, "unresolved_discards": 50},
			NetnsEntries: &model.NeighCount{Total: 1024, Unresolved: 68}}
	}
	b.neigh(full("arp_cache"), full("ndisc_cache"))
	reasons := []string{"QDISC_DROP", "CPU_BACKLOG", "NETFILTER_DROP", "SOCKET_RCVBUFF", "NO_SOCKET", "TCP_OFO_DROP", "IP_INNOROUTES"}
	ip := &model.InPath{}
	for i := range 200 {
		ip.Drops = append(ip.Drops, model.DropCount{Reason: reasons[i%len(reasons)], Ifindex: 10 + i,
			Link: fmt.Sprintf("veth%d", i), Location: fmt.Sprintf("loc_%d+0x10", i%len(reasons)), Count: uint64(10 + i)})
	}
	ip.Drops = append(ip.Drops, model.DropCount{Reason: "PROTO_MEM", Location: "__udp_enqueue_schedule_skb+0x1a4", Count: 9000},
		model.DropCount{Reason: "NEIGH_CREATEFAIL", Location: "ip_finish_output2+0x1", Count: 800})
	b.inPath(ip)
	return d
}

// TestBusyHostRunsTheRules: the benchmark's host gives the findings of the socket-level
// rules, so the benchmark measures them at work.
func TestBusyHostRunsTheRules(t *testing.T) {
	r := analyze(t, busyHost(), DefaultConfig())
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	for _, want := range []string{"udp-mem/host", "tcp-rcvbuf/host", "tcp-accept-queue/host", "neigh/host/table", "neigh/host/queue", "backlog/host/cpu1"} {
		if !slices.Contains(ids, want) {
			t.Errorf("no %s in %v", want, ids)
		}
	}
	if f := find(r, stage.UDPMem); f == nil || len(f.Reasons) == 0 {
		t.Errorf("udp-mem without PROTO_MEM: %+v", f)
	}
	for _, st := range []stage.Stage{stage.TCPRcvbuf, stage.TCPBacklog} {
		if f := find(r, st); f == nil || len(f.Sockets) != MaxSockets || f.Sockets[0].Remote == "" {
			t.Errorf("%s without its connections: %+v", st, f)
		}
	}
}

// BenchmarkAnalyzeBusy analyses busyHost, funnel included (advise, serve).
func BenchmarkAnalyzeBusy(b *testing.B) {
	d, cfg := busyHost(), DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		Analyze(d, cfg)
	}
}

// BenchmarkAnalyzeBusySkipFunnel is what apply --auto pays on busyHost.
func BenchmarkAnalyzeBusySkipFunnel(b *testing.B) {
	d, cfg := busyHost(), DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		AnalyzeWith(d, Settings{SkipFunnel: true}, cfg)
	}
}

// anyDrop answers observedDrops > 0 without the whole account.
func TestAnyDropIsObservedDrops(t *testing.T) {
	for name, d := range map[string]*model.Delta{
		"busy": busyHost(), "quiet links, loss elsewhere": quietHost(),
		"retransmits only": newDelta().snmp(map[string]uint64{"Tcp.OutSegs": 1e5, "Tcp.RetransSegs": 500}).link("eth0", veth).build(),
		"sndbuf only":      newDelta().snmp(map[string]uint64{"Udp.OutDatagrams": 1000, "Udp.SndbufErrors": 10}).build(),
		"reasons only":     newDelta().inPath(&model.InPath{Drops: []model.DropCount{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Count: 5}}}).build(),
		"nothing":          newDelta().link("eth0", veth).build(),
	} {
		in := newInput(d, Settings{}, DefaultConfig())
		if got, want := in.anyDrop(), observedDrops(d) > 0; got != want {
			t.Errorf("%s: anyDrop %v, observedDrops %d", name, got, observedDrops(d))
		}
	}
}
