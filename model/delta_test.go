package model

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestDiffRejectsOutOfOrder(t *testing.T) {
	if _, err := Diff(&Sample{Time: t0}, &Sample{Time: t0}); !errors.Is(err, ErrOrder) {
		t.Fatalf("err = %v", err)
	}
}

func TestDiffCounters(t *testing.T) {
	prev := &Sample{
		Time: t0,
		Links: []Link{
			{Name: "eth0", Index: 2, Stats: LinkStats{RxPackets: 1000, RxDropped: 50},
				Counters: []Counter{
					{Name: "rx_missed_errors", Value: 10},
					{Name: "port.rx_discards", Value: 1<<32 - 5, Wrap32: true},
					{Name: "rx_queue_0_drops", Value: 700},
				},
				Qdiscs: []Qdisc{{Kind: "pfifo", Handle: "1:", Parent: "root", Drops: 1<<32 - 1, Packets: 10, Wrap32: true}}},
			{Name: "gone0", Index: 9},
		},
		Softnet:    []SoftnetCPU{{CPU: 0, Processed: 1<<32 - 10, Dropped: 3}, {CPU: 1, Processed: 5}},
		NetRx:      []uint64{100, 200},
		SNMP:       map[string]uint64{"Udp.RcvbufErrors": 5, "Udp.InDatagrams": 100},
		Interrupts: []IRQ{{IRQ: 30, PerCPU: []uint64{10, 20}}},
	}
	cur := &Sample{
		Time: t0.Add(10 * time.Second),
		Links: []Link{
			{Name: "eth0", Index: 2, Stats: LinkStats{RxPackets: 3000, RxDropped: 40}, // rx_dropped went backwards: reset
				Counters: []Counter{
					{Name: "rx_missed_errors", Value: 30},
					{Name: "port.rx_discards", Value: 5, Wrap32: true}, // wrapped: 10 events
					{Name: "rx_queue_0_drops", Value: 3},               // reset (ring resize)
					{Name: "rx_queue_1_drops", Value: 99},              // queue added: no baseline
				},
				Qdiscs: []Qdisc{{Kind: "pfifo", Handle: "1:", Parent: "root", Drops: 3, Packets: 20, Wrap32: true}}},
			{Name: "new0", Index: 10, Stats: LinkStats{RxPackets: 5}},
		},
		Softnet:    []SoftnetCPU{{CPU: 0, Processed: 20, Dropped: 7, BacklogLen: 4}, {CPU: 1, Processed: 6}, {CPU: 2, Processed: 1}},
		NetRx:      []uint64{150, 260},
		SNMP:       map[string]uint64{"Udp.RcvbufErrors": 25, "Udp.InDatagrams": 300, "Udp.NewField": 1},
		Interrupts: []IRQ{{IRQ: 30, PerCPU: []uint64{15, 20}}},
	}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if d.Interval != 10*time.Second || d.Rate(50) != 5 {
		t.Fatalf("interval %s rate %v", d.Interval, d.Rate(50))
	}
	if len(d.Links) != 1 || d.Link("eth0") == nil || d.Link("new0") != nil {
		t.Fatalf("links: %+v", d.Links)
	}
	l := d.Link("eth0")
	if l.Stats.RxPackets != 2000 || l.Stats.RxDropped != 40 {
		t.Errorf("stats: %+v", l.Stats)
	}
	want := map[string]uint64{"rx_missed_errors": 20, "port.rx_discards": 10, "rx_queue_0_drops": 3}
	if len(l.Counters) != len(want) {
		t.Errorf("counters: %+v", l.Counters)
	}
	for _, c := range l.Counters {
		if want[c.Name] != c.Value {
			t.Errorf("%s = %d, want %d", c.Name, c.Value, want[c.Name])
		}
	}
	if q := l.Qdiscs[0]; q.Drops != 4 || q.Packets != 10 {
		t.Errorf("qdisc wrap: %+v", q)
	}
	if len(d.Softnet) != 2 || d.Softnet[0].Processed != 30 || d.Softnet[0].Dropped != 4 || d.Softnet[0].BacklogLen != 4 {
		t.Errorf("softnet: %+v", d.Softnet)
	}
	if d.NetRx[0] != 50 || d.NetRx[1] != 60 {
		t.Errorf("net_rx: %v", d.NetRx)
	}
	if d.SNMP["Udp.RcvbufErrors"] != 20 || d.SNMP["Udp.InDatagrams"] != 200 {
		t.Errorf("snmp: %v", d.SNMP)
	}
	if _, ok := d.SNMP["Udp.NewField"]; ok {
		t.Error("a field without baseline must not appear")
	}
	if d.Interrupts[0].PerCPU[0] != 5 || d.Interrupts[0].PerCPU[1] != 0 {
		t.Errorf("irq: %+v", d.Interrupts)
	}
	resets := map[string]bool{}
	for _, r := range d.Resets {
		resets[r] = true
	}
	if !resets["eth0 rx_dropped"] || !resets["eth0 rx_queue_0_drops"] || resets["eth0 port.rx_discards"] {
		t.Errorf("resets: %v", d.Resets)
	}
}

func TestDiffInPath(t *testing.T) {
	prev := &Sample{Time: t0, InPath: &InPath{
		Points:    []PointCount{{Point: PointXDP, Ifindex: 3, Queue: 1, Packets: 100}},
		Drops:     []DropCount{{Reason: "NO_SOCKET", Ifindex: 3, Location: "f+0x1", Count: 10}},
		MapErrors: 1,
	}}
	cur := &Sample{Time: t0.Add(time.Second), InPath: &InPath{
		Points: []PointCount{{Point: PointXDP, Ifindex: 3, Queue: 1, Packets: 150},
			{Point: PointXDP, Ifindex: 3, Queue: 2, Packets: 7}},
		Drops: []DropCount{{Reason: "NO_SOCKET", Ifindex: 3, Location: "f+0x1", Count: 10},
			{Reason: "QDISC_DROP", Ifindex: 4, Location: "g+0x2", Count: 4}},
		MapErrors: 3,
	}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	ip := d.InPath
	if ip.Points[0].Packets != 50 || ip.Points[1].Packets != 7 {
		t.Errorf("points: %+v", ip.Points)
	}
	if len(ip.Drops) != 1 || ip.Drops[0].Reason != "QDISC_DROP" || ip.Drops[0].Count != 4 {
		t.Errorf("drops (unchanged ones omitted): %+v", ip.Drops)
	}
	if ip.MapErrors != 2 {
		t.Errorf("map errors: %d", ip.MapErrors)
	}
	// Probes attached between the samples: the first sample has no in-path data at all.
	d, _ = Diff(&Sample{Time: t0}, cur)
	if d.InPath.Points[0].Packets != 150 {
		t.Errorf("no baseline: %+v", d.InPath.Points)
	}
}

func TestDiffUDPSockets(t *testing.T) {
	prev := &Sample{Time: t0, UDPSockets: []UDPSocket{
		{Local: "198.18.0.2:5353", Inode: 11, Drops: 100, RcvBuf: 212992, RxQueue: 1000},
		{Local: "198.18.0.2:9000", Inode: 12, Drops: 50, RcvBuf: 16384},
		{Local: "[::1]:53", Inode: 13, Drops: 900, RcvBuf: 212992},
		{Local: "198.18.0.2:7000", Inode: 14, Drops: 7, RcvBuf: 212992},
	}}
	cur := &Sample{Time: t0.Add(10 * time.Second), UDPSockets: []UDPSocket{
		{Local: "198.18.0.2:5353", Inode: 11, Drops: 400, RcvBuf: 425984, RxQueue: 2000}, // 300 more
		{Local: "198.18.0.2:9000", Inode: 12, Drops: 50, RcvBuf: 16384},                  // quiet
		{Local: "[::1]:53", Inode: 13, Drops: 20, RcvBuf: 8388608},                       // inode reused
		{Local: "198.18.0.3:5353", Inode: 15, Drops: 60, RcvBuf: 212992},                 // new: all 60
	}} // inode 14 closed: skipped
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := []UDPSocket{
		{Local: "198.18.0.2:5353", Inode: 11, Drops: 300, RcvBuf: 425984, RxQueue: 2000},
		{Local: "[::1]:53", Inode: 13, Drops: 20, RcvBuf: 8388608},
		{Local: "198.18.0.3:5353", Inode: 15, Drops: 60, RcvBuf: 212992},
	}
	if !reflect.DeepEqual(d.UDPSockets, want) {
		t.Errorf("udp sockets\n got %+v\nwant %+v", d.UDPSockets, want)
	}
	if len(d.Resets) != 0 {
		t.Errorf("resets %v: a reused inode is a new socket, not a counter reset", d.Resets)
	}

	old := &Sample{Time: t0.Add(20 * time.Second)} // taken before the reader existed
	if d, _ := Diff(cur, old); d.UDPSockets != nil {
		t.Errorf("no socket data became %+v", d.UDPSockets)
	}
	if d, _ := Diff(&Sample{Time: t0}, cur); !reflect.DeepEqual(d.UDPSockets, cur.UDPSockets) {
		t.Errorf("without a baseline every dropping socket counts whole: %+v", d.UDPSockets)
	}
}

func TestDiffConntrack(t *testing.T) {
	// Two CPUs' 32-bit counters summed: "drop" wraps on CPU 0 (0xfffffff0 → 0x20: 0x30
	// events) while CPU 1 adds 5 (0x100 → 0x105), so the sum falls; "early_drop" grows without a wrap, "invalid" belongs to a
	// netns recreated under the same name (a reset: 12 since), "chainlength" appeared.
	prev := &Sample{Time: t0, Conntrack: map[string]uint64{
		"drop": 0xfffffff0 + 0x100, "early_drop": 5, "invalid": 1 << 33, "insert_failed": 7,
	}}
	cur := &Sample{Time: t0.Add(10 * time.Second), Conntrack: map[string]uint64{
		"drop": 0x20 + 0x105, "early_drop": 9, "invalid": 12, "insert_failed": 7, "chainlength": 3,
	}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"drop": 0x35, "early_drop": 4, "invalid": 12, "insert_failed": 0}
	if !reflect.DeepEqual(d.Conntrack, want) {
		t.Errorf("conntrack\n got %v\nwant %v", d.Conntrack, want)
	}
	resets := map[string]bool{}
	for _, r := range d.Resets {
		resets[r] = true
	}
	if len(resets) != 2 || !resets["conntrack drop"] || !resets["conntrack invalid"] {
		t.Errorf("resets %v: both counters that went backwards are lower bounds", d.Resets)
	}

	// A reset whose modular difference is the smaller reading: the lower bound is kept.
	d, _ = Diff(&Sample{Time: t0, Conntrack: map[string]uint64{"drop": 1<<32 + 100}},
		&Sample{Time: t0.Add(time.Second), Conntrack: map[string]uint64{"drop": 150}})
	if d.Conntrack["drop"] != 50 {
		t.Errorf("drop = %d, want min((150−(2³²+100)) mod 2³², 150) = 50", d.Conntrack["drop"])
	}

	// Without conntrack on either side there is nothing to diff.
	for _, p := range [][2]*Sample{{{Time: t0}, cur}, {prev, {Time: t0.Add(time.Minute)}}} {
		if d, _ := Diff(p[0], p[1]); d.Conntrack != nil {
			t.Errorf("conntrack without a baseline: %v", d.Conntrack)
		}
	}
}

// A string set that changed in the middle (a queue added between two counters) no longer
// lines up by position: counters are matched by name.
func TestDiffCountersByName(t *testing.T) {
	link := func(cs ...Counter) []Link { return []Link{{Name: "eth0", Index: 2, Counters: cs}} }
	prev := &Sample{Time: t0, Links: link(Counter{Name: "rx_queue_0_drops", Value: 5}, Counter{Name: "rx_queue_2_drops", Value: 7})}
	cur := &Sample{Time: t0.Add(time.Second), Links: link(Counter{Name: "rx_queue_0_drops", Value: 6},
		Counter{Name: "rx_queue_1_drops", Value: 50}, Counter{Name: "rx_queue_2_drops", Value: 9})}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, c := range d.Links[0].Counters {
		got[c.Name] = c.Value
	}
	want := map[string]uint64{"rx_queue_0_drops": 1, "rx_queue_2_drops": 2}
	if !maps.Equal(got, want) || len(d.Resets) != 0 {
		t.Errorf("counters %v resets %v, want %v and none", got, d.Resets, want)
	}
}

// BenchmarkDiff1000 is one delta of a host with 1 000 interfaces (the apply --auto budget).
func BenchmarkDiff1000(b *testing.B) {
	mk := func(at time.Time, v uint64) *Sample {
		s := &Sample{Time: at, SNMP: map[string]uint64{}}
		for i := 0; i < 1000; i++ {
			l := Link{Name: "veth" + string(rune('a'+i%26)) + time.Duration(i).String(), Index: i + 1,
				Stats:  LinkStats{RxPackets: v, TxPackets: v, RxDropped: v},
				Qdiscs: []Qdisc{{Kind: "noqueue", Handle: "0:", Parent: "root", Packets: v}}}
			for q := 0; q < 4; q++ {
				l.Counters = append(l.Counters, Counter{Name: "rx_queue_" + string(rune('0'+q)) + "_drops", Value: v})
			}
			s.Links = append(s.Links, l)
		}
		for i := 0; i < 300; i++ {
			s.SNMP["Proto.F"+time.Duration(i).String()] = v
		}
		return s
	}
	prev, cur := mk(t0, 10), mk(t0.Add(time.Second), 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Diff(prev, cur); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDiffSkipsGauges: a falling Tcp.CurrEstab or a changed setting is no counter reset
// (issue 12, case 5); their current values stay in Cur.SNMP.
func TestDiffSkipsGauges(t *testing.T) {
	prev := &Sample{Time: t0, SNMP: map[string]uint64{"Tcp.CurrEstab": 40, "Tcp.RtoMin": 200, "Ip.Forwarding": 2,
		"Ip.DefaultTTL": 64, "Tcp.InSegs": 100}}
	cur := &Sample{Time: t0.Add(time.Second), SNMP: map[string]uint64{"Tcp.CurrEstab": 3, "Tcp.RtoMin": 200, "Ip.Forwarding": 1,
		"Ip.DefaultTTL": 32, "Tcp.InSegs": 150}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resets) != 0 {
		t.Errorf("resets %v", d.Resets)
	}
	if want := map[string]uint64{"Tcp.InSegs": 50}; !maps.Equal(d.SNMP, want) {
		t.Errorf("snmp %v, want %v", d.SNMP, want)
	}
	for _, k := range []string{"Tcp.CurrEstab", "Tcp.RtoAlgorithm", "Tcp.RtoMax", "Tcp.MaxConn", "Ip.DefaultTTL"} {
		if !SNMPNotCounter(k) {
			t.Errorf("%s is diffed as a counter", k)
		}
	}
}

func TestDiffFirewall(t *testing.T) {
	rule := func(handle, packets uint64, counter bool) FirewallRule {
		return FirewallRule{Family: "inet", Table: "t", Chain: "input", Handle: handle, Counter: counter, Packets: packets, Bytes: 10 * packets}
	}
	prev := &Sample{Time: t0, Firewall: &Firewall{Rules: []FirewallRule{rule(2, 100, true), rule(3, 50, true), rule(4, 0, false)}}}
	cur := &Sample{Time: t0.Add(time.Second), Firewall: &Firewall{Rules: []FirewallRule{
		rule(2, 160, true), // +60
		rule(3, 7, true),   // replaced: reset, 7 is the lower bound
		rule(4, 0, false),  // no counter
		rule(5, 9, true),   // added during the interval
	}}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]uint64{}
	for _, r := range d.Firewall.Rules {
		got[r.Handle] = r.Packets
	}
	if want := map[uint64]uint64{2: 60, 3: 7, 4: 0, 5: 9}; !maps.Equal(got, want) {
		t.Errorf("packets %v, want %v", got, want)
	}
	if !reflect.DeepEqual(d.Resets, []string{"nft inet t input handle 3 packets"}) {
		t.Errorf("resets %v", d.Resets)
	}
	if cur.Firewall.Rules[0].Packets != 160 {
		t.Error("Diff changed the sample")
	}
}

func TestDiffNeigh(t *testing.T) {
	own := &NeighCount{Total: 40, Unresolved: 30}
	prev := &Sample{Time: t0, Neigh: []NeighTable{
		{Name: "arp_cache", Entries: 10, Counters: map[string]uint64{"table_fulls": 5, "allocs": 100, "destroys": 90}},
		{Name: "ndisc_cache", Entries: 4, Counters: map[string]uint64{"table_fulls": 0}},
	}}
	cur := &Sample{Time: t0.Add(10 * time.Second), Neigh: []NeighTable{
		{Name: "arp_cache", Entries: 1024, NetnsEntries: own,
			Counters: map[string]uint64{"table_fulls": 905, "allocs": 1200, "destroys": 3, "forced_gc_runs": 7}},
	}} // ndisc_cache gone (IPv6 disabled since): skipped; destroys went backwards (reset)
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := []NeighTable{{Name: "arp_cache", Entries: 1024, NetnsEntries: own,
		Counters: map[string]uint64{"table_fulls": 900, "allocs": 1100, "destroys": 3}}}
	if !reflect.DeepEqual(d.Neigh, want) {
		t.Errorf("neigh\n got %+v\nwant %+v", d.Neigh, want)
	}
	if !reflect.DeepEqual(d.Resets, []string{"neigh arp_cache destroys"}) {
		t.Errorf("resets %v", d.Resets)
	}
	if d, _ := Diff(&Sample{Time: t0}, cur); d.Neigh != nil {
		t.Errorf("neighbour counters without a baseline: %+v", d.Neigh)
	}
}

func TestDiffTCPRetrans(t *testing.T) {
	prev := &Sample{Time: t0, TCPRetrans: []TCPConn{
		{Local: "198.18.0.1:40000", Remote: "198.18.0.2:5201", Inode: 21, TotalRetrans: 100, SegsOut: 1<<32 - 10},
		{Local: "198.18.0.1:40002", Remote: "198.18.0.2:5201", Inode: 22, TotalRetrans: 8, SegsOut: 900},
		{Local: "198.18.0.1:40004", Remote: "198.18.0.2:5201", Inode: 23, TotalRetrans: 50, SegsOut: 5000},
	}}
	cur := &Sample{Time: t0.Add(10 * time.Second), TCPRetrans: []TCPConn{
		{Local: "198.18.0.1:40000", Remote: "198.18.0.2:5201", Inode: 21, TotalRetrans: 130, SegsOut: 90, RTT: 900}, // segs_out wrapped
		{Local: "198.18.0.1:40002", Remote: "198.18.0.2:5201", Inode: 22, TotalRetrans: 8, SegsOut: 1000},           // quiet
		{Local: "198.18.0.1:40004", Remote: "198.18.0.2:5201", Inode: 31, TotalRetrans: 4, SegsOut: 40},             // same pair, new connection
		{Local: "198.18.0.1:40006", Remote: "198.18.0.3:443", TotalRetrans: 6, SegsOut: 60, State: "fin-wait-1"},    // new, closed by the application
	}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := []TCPConn{
		{Local: "198.18.0.1:40000", Remote: "198.18.0.2:5201", Inode: 21, TotalRetrans: 30, SegsOut: 100, RTT: 900},
		{Local: "198.18.0.1:40004", Remote: "198.18.0.2:5201", Inode: 31, TotalRetrans: 4, SegsOut: 40},
		{Local: "198.18.0.1:40006", Remote: "198.18.0.3:443", TotalRetrans: 6, SegsOut: 60, State: "fin-wait-1"},
	}
	if !reflect.DeepEqual(d.TCPRetrans, want) {
		t.Errorf("tcp retransmits\n got %+v\nwant %+v", d.TCPRetrans, want)
	}
	if d, _ := Diff(cur, &Sample{Time: t0.Add(time.Minute)}); d.TCPRetrans != nil {
		t.Errorf("no connection data became %+v", d.TCPRetrans)
	}
}

func TestDiffTCPDropping(t *testing.T) {
	conn := func(port, inode, drops uint64) TCPConn {
		return TCPConn{Local: "198.18.0.2:5201", Remote: fmt.Sprint("198.18.0.1:", port), Inode: inode, Drops: drops, RcvBuf: 4608}
	}
	prev := &Sample{Time: t0, TCPDropping: []TCPConn{conn(40000, 21, 100), conn(40002, 22, 8), conn(40004, 23, 50), conn(40008, 25, 9)}}
	cur := &Sample{Time: t0.Add(10 * time.Second), TCPDropping: []TCPConn{
		conn(40000, 21, 130), // dropped 30
		conn(40002, 22, 8),   // quiet
		conn(40004, 31, 4),   // same pair, a new socket since: all 4
		conn(40006, 26, 6),   // none at prev (prev left none out): all 6
		conn(40008, 0, 12),   // closed by the application since: 3
	}}
	d, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	want := []TCPConn{conn(40000, 21, 30), conn(40004, 31, 4), conn(40006, 26, 6), conn(40008, 0, 3)}
	if !reflect.DeepEqual(d.TCPDropping, want) {
		t.Errorf("tcp dropping\n got %+v\nwant %+v", d.TCPDropping, want)
	}
	// prev's list was capped: 40006 may have been left out of it with most of its 6 drops.
	prev.TCPDroppingOmitted = 1
	capped := []TCPConn{want[0], want[1], want[3]}
	if d, _ := Diff(prev, cur); !reflect.DeepEqual(d.TCPDropping, capped) {
		t.Errorf("prev capped\n got %+v\nwant %+v", d.TCPDropping, capped)
	}
	if d, _ := Diff(cur, &Sample{Time: t0.Add(time.Minute)}); d.TCPDropping != nil {
		t.Errorf("no connection data became %+v", d.TCPDropping)
	}
}

// Links and in-path entries are matched by key whether the two samples list them in the same
// order (matched by index, no map) or not (a link gone, one new, points reordered).
func TestDiffMatchesInAnyOrder(t *testing.T) {
	link := func(ix int, name string, rx uint64) Link {
		return Link{Index: ix, Name: name, Stats: LinkStats{RxPackets: rx}}
	}
	pt := func(ix, q int, n uint64) PointCount {
		return PointCount{Point: PointXDP, Ifindex: ix, Queue: q, Packets: n}
	}
	for name, tc := range map[string]struct {
		prevLinks []Link
		prevPts   []PointCount
	}{
		"same order": {[]Link{link(1, "lo", 10), link(2, "a", 100), link(3, "b", 1000)},
			[]PointCount{pt(2, 0, 5), pt(2, 1, 50), pt(3, 0, 500)}},
		"other order": {[]Link{link(3, "b", 1000), link(4, "gone", 7), link(1, "lo", 10)},
			[]PointCount{pt(3, 0, 500), pt(2, 1, 50)}},
	} {
		cur := &Sample{Time: t0.Add(time.Second), Links: []Link{link(1, "lo", 11), link(2, "a", 102), link(3, "b", 1003)},
			InPath: &InPath{Points: []PointCount{pt(2, 0, 6), pt(2, 1, 52), pt(3, 0, 503)}}}
		d, err := Diff(&Sample{Time: t0, Links: tc.prevLinks, InPath: &InPath{Points: tc.prevPts}}, cur)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range d.Links {
			got = append(got, fmt.Sprintf("%s:%d", l.Name, l.Stats.RxPackets))
		}
		for _, p := range d.InPath.Points {
			got = append(got, fmt.Sprintf("%d/%d:%d", p.Ifindex, p.Queue, p.Packets))
		}
		want := "[lo:1 a:2 b:3 2/0:1 2/1:2 3/0:3]"
		if name == "other order" {
			want = "[lo:1 b:3 2/0:6 2/1:2 3/0:3]" // a and queue 2/0 have no baseline
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
}
