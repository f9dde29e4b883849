package model

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

// full is a sample with every field Diff or policy can read filled in, values scaled by v.
func full(at time.Time, v uint64) *Sample {
	s := &Sample{
		Time: at, Netns: "pod1", NCPU: 2,
		Links: []Link{{Name: "eth0", Index: 2, Kind: "", Driver: "ixgbe", OperUp: true, MTU: 1500, TxQueueLen: 1000,
			NumRxQ: 2, NumTxQ: 2, Stats: LinkStats{RxPackets: 100 * v, RxDropped: v, TxFifoErrors: v},
			Counters: []Counter{{Name: "rx_missed_errors", Stage: "nic_fifo", Kind: KindDrops, Dir: Rx, Queue: -1, Value: v},
				{Name: "rx_queue_0_packets", Stage: "rx_ring", Kind: KindPackets, Dir: Rx, Queue: 0, Value: 50 * v, Wrap32: true}},
			Ring: &Ring{Rx: 512, Tx: 512, RxMax: 4096, TxMax: 4096}, Channels: &Channels{Combined: 2, MaxCombined: 8},
			Qdiscs:   []Qdisc{{Kind: "mq", Handle: "0:", Parent: "root", Root: true, Limit: 1000, Packets: 90 * v, Drops: v, Backlog: 30, Qlen: 2}},
			RxQueues: []RxQueue{{Queue: 0, RPSCPUs: "0"}, {Queue: 1, RPSCPUs: "3", RPSFlowCnt: 4096}}}},
		Softnet:    []SoftnetCPU{{CPU: 0, Processed: uint32(10 * v), Dropped: uint32(v), BacklogLen: 7}},
		NetRx:      []uint64{20 * v, 30 * v},
		SNMP:       map[string]uint64{"Udp.RcvbufErrors": v},
		Interrupts: []IRQ{{IRQ: 40, Link: "eth0", Queue: 0, Dir: Rx, Name: "eth0-TxRx-0", PerCPU: []uint64{v, 2 * v}, Affinity: "0"}},
		Sysctls:    map[string]string{"net.core.netdev_max_backlog": "1000"},
		IRQBalance: true,
		InPath: &InPath{XDPMode: "native", Netns: 4026531840, Note: "n",
			Points:    []PointCount{{Point: PointXDP, Netns: 4026531840, Ifindex: 2, Link: "eth0", Queue: 0, Packets: 40 * v, Bytes: 4000 * v}},
			Drops:     []DropCount{{Reason: "NO_SOCKET", Netns: 4026531840, Ifindex: 2, Link: "eth0", Location: "udp_rcv+0x1", Count: v}},
			MapErrors: v},
		UDPSockets: []UDPSocket{{Local: "198.18.0.1:53", Inode: 77, Drops: v, RcvBuf: 212992, RxQueue: 100}},
		Conntrack:  map[string]uint64{"drop": v},
		Firewall: &Firewall{Chains: []FirewallChain{{Family: "inet", Table: "t", Name: "input", Hook: "input", Type: "filter"}},
			Rules: []FirewallRule{{Family: "inet", Table: "t", Chain: "input", Handle: 4, Expr: "udp dport 9 counter drop", Drop: true,
				Counter: true, Packets: v, Bytes: 100 * v}, {Family: "inet", Table: "t", Chain: "input", Handle: 5, Expr: "drop", Drop: true}}},
		Sockstat: &Sockstat{TCPMem: 30 * v, UDPMem: 7},
		Neigh: []NeighTable{{Name: "arp_cache", Entries: 9, Counters: map[string]uint64{"table_fulls": v, "allocs": 2 * v},
			NetnsEntries: &NeighCount{Total: 3}}, {Name: "ndisc_cache", Counters: map[string]uint64{}}},
		TCPListeners: []TCPListener{{Local: "198.18.0.1:80", Inode: 78, AcceptQueue: 21, Backlog: 20}},
		TCPRetrans: []TCPConn{{Local: "198.18.0.1:80", Remote: "198.18.0.2:40000", Inode: 79, State: "established",
			TotalRetrans: uint32(5 * v), SegsOut: uint32(100 * v), RTT: 300, CC: "cubic"}},
		TCPDropping: []TCPConn{{Local: "198.18.0.1:5201", Remote: "198.18.0.2:40002", Inode: 80, State: "established",
			Drops: 7 * v, RcvBuf: 4608}},
		TCPDroppingOmitted: int(v),
		Errors:             []string{"softirqs: x"},
	}
	// A second link repeats the first one's counter and qdisc names, as links of one driver do.
	l := s.Links[0]
	l.Name, l.Index = "eth1", 3
	l.Counters = slices.Clone(l.Counters)
	l.Counters[0].Value += 5
	s.Links = append(s.Links, l)
	return s
}

func TestBaselineDiffsLikeTheSample(t *testing.T) {
	for name, tweak := range map[string]func(*Sample){
		"full": func(*Sample) {},
		"no probes or netfilter": func(s *Sample) {
			s.InPath, s.Conntrack, s.UDPSockets, s.Interrupts, s.Firewall = nil, nil, nil, nil, nil
		},
		"ruleset without counters": func(s *Sample) { s.Firewall.Rules = s.Firewall.Rules[1:] },
		"no socket evidence": func(s *Sample) {
			s.Sockstat, s.Neigh, s.TCPListeners, s.TCPRetrans, s.TCPDropping, s.TCPDroppingOmitted = nil, nil, nil, nil, nil, 0
		},
		"conntrack, no counters": func(s *Sample) { s.Conntrack = map[string]uint64{} },
	} {
		prev, cur := full(t0, 1), full(t0.Add(time.Second), 3)
		tweak(prev)
		tweak(cur)
		want, err := Diff(prev, cur)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseBaseline(prev.AppendBaseline(nil))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Diff(b, cur)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Prev.Time.Equal(prev.Time) {
			t.Errorf("%s: time %v, want %v", name, got.Prev.Time, prev.Time)
		}
		want.Prev, got.Prev = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: diff from the baseline:\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

func TestParseBaselineRejects(t *testing.T) {
	b := full(t0, 1).AppendBaseline(nil)
	for n := range len(b) { // every torn file
		if _, err := ParseBaseline(b[:n]); !errors.Is(err, ErrBaseline) {
			t.Fatalf("first %d of %d bytes: %v", n, len(b), err)
		}
	}
	for name, bad := range map[string][]byte{
		"trailing bytes": append(slices.Clone(b), 0),
		"other version":  append([]byte("NTB\x01"), b[4:]...),
		"segs_out above 32 bits": func() []byte {
			s := full(t0, 1)
			s.TCPRetrans[0].SegsOut = 1<<32 - 1 // varint ff ff ff ff 0f, then no dropping connection: 00 00
			s.TCPDropping, s.TCPDroppingOmitted = nil, 0
			b := s.AppendBaseline(nil)
			return append(b[:len(b)-7], 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0) // 1<<32
		}(),
		"gob": []byte("\x0f\xff\x81\x03\x01\x01\x06Sample"),
	} {
		if _, err := ParseBaseline(bad); !errors.Is(err, ErrBaseline) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseBaseline(f *testing.F) {
	f.Add(full(t0, 1).AppendBaseline(nil))
	f.Add([]byte(baselineMagic + "\x00\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseBaseline(b) // must not panic or allocate for counts the bytes cannot hold
		if err == nil && s == nil {
			t.Fatal("nil sample without an error")
		}
	})
}

// BenchmarkBaseline1000 is apply --auto's state round trip at 1 000 interfaces.
func BenchmarkBaseline1000(b *testing.B) {
	s := full(t0, 1)
	l := s.Links[0]
	s.Links = nil
	for i := range 1000 {
		l.Name, l.Index = "veth"+strconv.Itoa(i), i+1
		s.Links = append(s.Links, l)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBaseline(s.AppendBaseline(nil)); err != nil {
			b.Fatal(err)
		}
	}
}
