package lab

import (
	"context"
	"net"
	"testing"
	"time"
)

func pair(t *testing.T) *Veth {
	t.Helper()
	return NewVeth(t, NewNS(t, "trA"), NewNS(t, "trB"), VethOpts{})
}

func TestUDPFloodStopsAtPacketCount(t *testing.T) {
	v := pair(t)
	sink := UDPSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: 1 << 20, Read: true})
	r, err := UDPFlood(t.Context(), v.A, sink.Addr(), FloodOpts{Packets: 500, Duration: 10 * time.Second, PPS: 20000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 500 || r.Errors != 0 {
		t.Fatalf("sent %d errors %d, want 500 and 0", r.Sent, r.Errors)
	}
	deadline := time.Now().Add(2 * time.Second)
	for sink.Received() < r.Sent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if sink.Received() != r.Sent {
		t.Fatalf("sink received %d of %d", sink.Received(), r.Sent)
	}
}

func TestUDPFloodStopsAtDurationAndPaces(t *testing.T) {
	v := pair(t)
	r, err := UDPFlood(t.Context(), v.A, v.BAddr+":9", FloodOpts{Duration: 300 * time.Millisecond, PPS: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Elapsed > time.Second {
		t.Errorf("ran %v for a 300ms bound", r.Elapsed)
	}
	if r.Sent < 150 || r.Sent > 400 {
		t.Errorf("sent %d in 300ms at 1000 pps", r.Sent)
	}
}

func TestUDPFloodStopsWithContext(t *testing.T) {
	v := pair(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	r, err := UDPFlood(ctx, v.A, v.BAddr+":9", FloodOpts{Duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Elapsed > time.Second {
		t.Errorf("ran %v after a 100ms context", r.Elapsed)
	}
}

func TestUDPFloodSpreadsSourcePorts(t *testing.T) {
	v := pair(t)
	var c net.PacketConn
	v.B.Do(t, func() (err error) {
		c, err = net.ListenPacket("udp4", v.BAddr+":0")
		return err
	})
	defer c.Close()
	if _, err := UDPFlood(t.Context(), v.A, c.LocalAddr().String(), FloodOpts{Packets: 40, Flows: 4}); err != nil {
		t.Fatal(err)
	}
	ports := map[int]bool{}
	buf := make([]byte, 128)
	for range 40 {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		ports[from.(*net.UDPAddr).Port] = true
	}
	if len(ports) != 4 {
		t.Fatalf("saw %d source ports, want 4", len(ports))
	}
}

func TestUDPSinkTinyBufferNeverRead(t *testing.T) {
	v := pair(t)
	sink := UDPSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: TinyRcvBuf})
	// The kernel doubles the request; the result must stay far below any default.
	if got := sink.RcvBuf(); got < TinyRcvBuf || got > 16*TinyRcvBuf {
		t.Fatalf("granted rcvbuf %d for a %d request", got, TinyRcvBuf)
	}
	before := counters(t, v.B)
	r, err := UDPFlood(t.Context(), v.A, sink.Addr(), FloodOpts{Packets: 200, Size: 512})
	if err != nil {
		t.Fatal(err)
	}
	d := diff(before, counters(t, v.B))
	if sink.Received() != 0 {
		t.Errorf("non-reading sink counted %d", sink.Received())
	}
	atLeastShare(t, "Udp.RcvbufErrors", d["Udp.RcvbufErrors"], int64(r.Sent), 0.8)
}

func TestFragmentedUDPIsReassembled(t *testing.T) {
	v := pair(t)
	sink := UDPSink(t, v.B, v.BAddr+":0", SinkOpts{RcvBuf: bigRcvBuf, Read: true})
	beforeA, beforeB := counters(t, v.A), counters(t, v.B)
	r, err := FragmentedUDP(t.Context(), v.A, sink.Addr(), FloodOpts{Packets: 50, PPS: 500})
	if err != nil {
		t.Fatal(err)
	}
	dA, dB := diff(beforeA, counters(t, v.A)), diff(beforeB, counters(t, v.B))
	if dA["Ip.FragCreates"] < int64(6*r.Sent) { // ≥ 8 KiB over a 1500-byte MTU: ≥ 6 fragments each
		t.Errorf("A created %d fragments for %d datagrams", dA["Ip.FragCreates"], r.Sent)
	}
	if dB["Ip.ReasmOKs"] != int64(r.Sent) || dB["Ip.ReasmFails"] != 0 {
		t.Errorf("B reassembled %d, failed %d, of %d", dB["Ip.ReasmOKs"], dB["Ip.ReasmFails"], r.Sent)
	}
	if _, err := FragmentedUDP(t.Context(), v.A, sink.Addr(), FloodOpts{Size: 70000}); err == nil {
		t.Error("70000-byte datagram accepted")
	}
}

func TestPortScanCountsNoPorts(t *testing.T) {
	v := pair(t)
	before := counters(t, v.B)
	r, err := PortScan(t.Context(), v.A, v.BAddr, []int{1, 2, 3, 33434, 65000})
	if err != nil {
		t.Fatal(err)
	}
	// The first datagrams wait in A for ARP, so they arrive after PortScan returns.
	if got := waitCounter(t, v.B, "Udp.NoPorts", before, 5); r.Sent != 5 || got != 5 {
		t.Fatalf("sent %d, B NoPorts %d, want 5 and 5", r.Sent, got)
	}
}

func TestTCPListenAccepting(t *testing.T) {
	v := pair(t)
	l := TCPListen(t, v.B, v.BAddr+":0", 128, true)
	ok, failed := TCPConnectStorm(t.Context(), v.A, l.Addr(), 20, 2*time.Second)
	if ok != 20 || failed != 0 {
		t.Fatalf("ok %d failed %d, want 20 and 0", ok, failed)
	}
	deadline := time.Now().Add(2 * time.Second)
	for l.Accepted() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l.Accepted() != 20 {
		t.Fatalf("accepted %d of 20", l.Accepted())
	}
}

func TestTCPListenBacklogOverflows(t *testing.T) {
	v := pair(t)
	l := TCPListen(t, v.B, v.BAddr+":0", 1, false)
	before := counters(t, v.B)
	start := time.Now()
	ok, failed := TCPConnectStorm(t.Context(), v.A, l.Addr(), 20, 300*time.Millisecond)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("storm took %v for a 300ms timeout", took)
	}
	d := diff(before, counters(t, v.B))
	t.Logf("ok %d failed %d, B ListenOverflows %d", ok, failed, d["TcpExt.ListenOverflows"])
	if ok+failed != 20 || failed == 0 {
		t.Errorf("ok %d failed %d: a backlog of 1 let every handshake through", ok, failed)
	}
	atLeastShare(t, "B TcpExt.ListenOverflows", d["TcpExt.ListenOverflows"], int64(failed), 1)
	if l.Accepted() != 0 {
		t.Errorf("non-accepting listener accepted %d", l.Accepted())
	}
}

// The generators must run in the namespace they are given, not the test's own.
func TestUDPFloodRunsInItsNamespace(t *testing.T) {
	v := pair(t)
	beforeA, beforeB := counters(t, v.A), counters(t, v.B)
	if _, err := UDPFlood(t.Context(), v.A, v.BAddr+":9", FloodOpts{Packets: 100}); err != nil {
		t.Fatal(err)
	}
	out := waitCounter(t, v.A, "Udp.OutDatagrams", beforeA, 100)
	if noPorts := waitCounter(t, v.B, "Udp.NoPorts", beforeB, 100); out != 100 || noPorts != 100 {
		t.Fatalf("A OutDatagrams %d, B NoPorts %d, want 100 and 100", out, noPorts)
	}
}
