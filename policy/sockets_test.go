package policy

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Issue 13 item 4: a socket-level finding names the sockets behind it, most drops first,
// bounded, with what the policy knows of each.
func TestFindingsNameTheirSockets(t *testing.T) {
	t.Run("udp rcvbuf", func(t *testing.T) {
		d := udpLoss().udpSockets(udpSock("198.18.0.2:5353", 11, 3000, 212992),
			setSock(udpSock("[::]:53", 12, 6000, 16384), true), udpSock("198.18.0.2:9999", 13, 0, 212992)).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.UDPRcvbuf)
		want := []Socket{
			{Proto: "udp", Local: "[::]:53", Inode: 12, Drops: 6000, Rate: 600, RcvBuf: 16384, RcvBufSet: boolp(true)},
			{Proto: "udp", Local: "198.18.0.2:5353", Inode: 11, Drops: 3000, Rate: 300, RcvBuf: 212992},
		}
		if !reflect.DeepEqual(f.Sockets, want) || f.SocketsOmitted != 0 {
			t.Errorf("sockets %+v (+%d), want %+v", f.Sockets, f.SocketsOmitted, want)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		var socks []model.UDPSocket
		for i := range MaxSockets + 3 {
			socks = append(socks, udpSock(fmt.Sprintf("198.18.0.2:%d", 9000+i), uint64(100+i), uint64(100+i), 212992))
		}
		f := findStage(t, Analyze(udpLoss().udpSockets(socks...).build(), DefaultConfig()), stage.UDPRcvbuf)
		if len(f.Sockets) != MaxSockets || f.SocketsOmitted != 3 || f.Sockets[0].Inode != uint64(100+MaxSockets+2) {
			t.Errorf("sockets %+v (+%d)", f.Sockets, f.SocketsOmitted)
		}
	})
	t.Run("udp mem", func(t *testing.T) {
		d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.MemErrors": 10000}).
			udpSockets(udpSock("198.18.0.2:9000", 11, 10000, 4194304)).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.UDPMem)
		if len(f.Sockets) != 1 || f.Sockets[0].Local != "198.18.0.2:9000" || f.Sockets[0].Drops != 10000 {
			t.Errorf("sockets %+v", f.Sockets)
		}
	})
	t.Run("accept queue names the full listener", func(t *testing.T) {
		d := overflows().listeners(model.TCPListener{Local: "198.18.0.1:80", Inode: 21, AcceptQueue: 21, Backlog: 20},
			model.TCPListener{Local: "198.18.0.1:22", Inode: 22, Backlog: 4096}).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.TCPAcceptQueue)
		want := []Socket{{Proto: "tcp", Local: "198.18.0.1:80", Inode: 21, Listen: &Listen{AcceptQueue: 21, Backlog: 20}}}
		if !reflect.DeepEqual(f.Sockets, want) {
			t.Errorf("sockets %+v, want %+v", f.Sockets, want)
		}
	})
	t.Run("accept queue names the listener that refused connections", func(t *testing.T) {
		// 22 drained by the sample and refused 500 in the interval; 80 is full and refused
		// none (its 900 are older); 81 is a new socket at an address: its drops are unknown.
		b := overflows().listeners(model.TCPListener{Local: "198.18.0.1:80", Inode: 21, AcceptQueue: 21, Backlog: 20, Drops: 900},
			model.TCPListener{Local: "198.18.0.1:22", Inode: 22, Backlog: 4096, Drops: 700},
			model.TCPListener{Local: "198.18.0.1:81", Inode: 24, Backlog: 4096, Drops: 50})
		b.d.Prev = &model.Sample{TCPListeners: []model.TCPListener{{Local: "198.18.0.1:80", Inode: 21, AcceptQueue: 21, Backlog: 20, Drops: 900},
			{Local: "198.18.0.1:22", Inode: 22, Backlog: 4096, Drops: 200},
			{Local: "198.18.0.1:81", Inode: 23, Backlog: 4096, Drops: 10}}}
		r := Analyze(b.build(), DefaultConfig())
		f := findStage(t, r, stage.TCPAcceptQueue)
		want := []Socket{{Proto: "tcp", Local: "198.18.0.1:22", Inode: 22, Drops: 500, Rate: 50, Listen: &Listen{Backlog: 4096}}}
		if !reflect.DeepEqual(f.Sockets, want) {
			t.Errorf("sockets %+v, want %+v", f.Sockets, want)
		}
		// the listener that refused decides the knob: its backlog is somaxconn's (by the
		// queues alone the full 80, whose own backlog is the limit, would have decided)
		if a := action(r, "sysctl:net.core.somaxconn"); a == nil {
			t.Errorf("plan %+v: want somaxconn, the limit of the listener that refused connections", r.Plan)
		}
	})
	t.Run("accept queues drained: every listener, fullest first", func(t *testing.T) {
		d := overflows().listeners(model.TCPListener{Local: "198.18.0.1:81", Inode: 2, AcceptQueue: 1, Backlog: 4096},
			model.TCPListener{Local: "198.18.0.1:80", Inode: 1, AcceptQueue: 10, Backlog: 20}).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.TCPAcceptQueue)
		if len(f.Sockets) != 2 || f.Sockets[0].Local != "198.18.0.1:80" || f.Sockets[1].Listen.Backlog != 4096 {
			t.Errorf("sockets %+v", f.Sockets)
		}
	})
	t.Run("tcp rcvbuf names the listeners that set SO_RCVBUF", func(t *testing.T) {
		d := newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 5000}).
			listeners(model.TCPListener{Local: "198.18.0.1:80", Inode: 5, Backlog: 128, RcvBufSet: boolp(true)},
				model.TCPListener{Local: "198.18.0.1:81", Inode: 6, Backlog: 128, RcvBufSet: boolp(false)}).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.TCPRcvbuf)
		if len(f.Sockets) != 1 || f.Sockets[0].Local != "198.18.0.1:80" || f.Sockets[0].RcvBufSet == nil || !*f.Sockets[0].RcvBufSet {
			t.Errorf("sockets %+v", f.Sockets)
		}
	})
	t.Run("tcp rcvbuf names the connections that dropped, then the listeners that set SO_RCVBUF", func(t *testing.T) {
		d := newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 5000, "TcpExt.RcvPruned": 5000}).
			dropping(conn("198.18.0.2:5201", "198.18.0.1:40312", 31, 3000), conn("[::1]:5201", "[::1]:40400", 32, 7000)).
			listeners(model.TCPListener{Local: "198.18.0.2:5201", Inode: 5, Backlog: 128, RcvBufSet: boolp(true)}).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.TCPRcvbuf)
		want := []Socket{
			{Proto: "tcp", Local: "[::1]:5201", Remote: "[::1]:40400", Inode: 32, Drops: 7000, Rate: 700, RcvBuf: 8192},
			{Proto: "tcp", Local: "198.18.0.2:5201", Remote: "198.18.0.1:40312", Inode: 31, Drops: 3000, Rate: 300, RcvBuf: 8192},
			{Proto: "tcp", Local: "198.18.0.2:5201", Inode: 5, RcvBufSet: boolp(true), Listen: &Listen{Backlog: 128}},
		}
		if !reflect.DeepEqual(f.Sockets, want) || f.SocketsOmitted != 0 {
			t.Errorf("sockets %+v (+%d), want %+v", f.Sockets, f.SocketsOmitted, want)
		}
	})
	t.Run("tcp rcvbuf: connections whose application set SO_RCVBUF are advice", func(t *testing.T) {
		set := conn("198.18.0.2:5201", "198.18.0.1:40312", 31, 3000)
		set.RcvBufSet = boolp(true)
		unset := conn("198.18.0.2:5201", "198.18.0.1:40314", 32, 2000)
		unset.RcvBufSet = boolp(false)
		r := Analyze(newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 5000}).
			sysctl("net.ipv4.tcp_rmem", "4096 131072 6291456").dropping(set, unset).build(), DefaultConfig())
		if f := findStage(t, r, stage.TCPRcvbuf); len(f.Sockets) != 2 || f.Sockets[0].RcvBufSet != set.RcvBufSet || f.Sockets[1].RcvBufSet != unset.RcvBufSet {
			t.Errorf("sockets %+v", f.Sockets)
		}
		if !hasAdvice(r, "the connections 198.18.0.2:5201 ← 198.18.0.1:40312 (rcvbuf 8192) dropped with a receive buffer their application fixed") ||
			hasAdvice(r, "40314") {
			t.Errorf("advice %v", r.Advice)
		}
		if action(r, "sysctl:net.ipv4.tcp_rmem") == nil { // the other connection is autotuned
			t.Errorf("plan %+v: want tcp_rmem", r.Plan)
		}
	})
	t.Run("tcp backlog names the connections that dropped, bounded", func(t *testing.T) {
		var cs []model.TCPConn
		for i := range MaxSockets + 3 {
			cs = append(cs, conn("198.18.0.2:5201", fmt.Sprintf("198.18.0.1:%d", 40000+i), uint64(100+i), uint64(10+i)))
		}
		d := newDelta().snmp(map[string]uint64{"Tcp.InSegs": 100000, "TcpExt.TCPBacklogDrop": 500}).dropping(cs...).build()
		f := findStage(t, Analyze(d, DefaultConfig()), stage.TCPBacklog)
		first := Socket{Proto: "tcp", Local: "198.18.0.2:5201", Remote: fmt.Sprintf("198.18.0.1:%d", 40000+MaxSockets+2),
			Inode: uint64(100 + MaxSockets + 2), Drops: uint64(10 + MaxSockets + 2), Rate: float64(10+MaxSockets+2) / 10, RcvBuf: 8192}
		if len(f.Sockets) != MaxSockets || f.SocketsOmitted != 3 || !reflect.DeepEqual(f.Sockets[0], first) || f.Sockets[MaxSockets-1].Drops != 13 {
			t.Errorf("sockets %+v (+%d), want %d from %+v down to 13 drops, 3 omitted", f.Sockets, f.SocketsOmitted, MaxSockets, first)
		}
	})
	t.Run("no sockets on other findings", func(t *testing.T) {
		r := Analyze(newDelta().softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 99000, 1000 }).build(), DefaultConfig())
		if len(r.Findings) == 0 {
			t.Fatal("no finding")
		}
		for _, f := range r.Findings {
			if f.Sockets != nil {
				t.Errorf("%s names sockets %+v", f.ID, f.Sockets)
			}
		}
	})
}

func findStage(t *testing.T, r *Report, st stage.Stage) *Finding {
	t.Helper()
	for i := range r.Findings {
		if r.Findings[i].Stage == st {
			return &r.Findings[i]
		}
	}
	t.Fatalf("no %s finding in %+v", st, r.Findings)
	return nil
}
