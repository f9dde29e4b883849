package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// The host-wide limits of the socket-memory and neighbour injectors, left to the test: a
// closed-loop test lowers a limit once, injects, lets nettune apply its plan, injects the
// same load again and checks the loss fell. Each Lower* takes lab.Global, reads the value in
// force and writes it back at cleanup (never an assumed default). The injectors of the same
// conditions (InjectUDPMem, InjectTCPMem, InjectNeighOverflow) hold the limit themselves for
// at most HostLimitMax instead.

// LowerUDPMem sets the host's net.ipv4.udp_mem to UDPMemLow until the test ends.
func LowerUDPMem(t testing.TB) {
	t.Helper()
	Global(t)
	SetSysctl(t, nil, "net.ipv4.udp_mem", UDPMemLow)
}

// LowerTCPMem sets the host's net.ipv4.tcp_mem to TCPMemLow until the test ends.
func LowerTCPMem(t testing.TB) {
	t.Helper()
	Global(t)
	SetSysctl(t, nil, "net.ipv4.tcp_mem", TCPMemLow)
}

// LowerNeighTable sets the host's net.ipv4.neigh.default.gc_thresh3 to the ARP table's
// current size plus NeighHeadroom until the test ends, and returns the value it set.
func LowerNeighTable(t testing.TB) int {
	t.Helper()
	Global(t)
	entries, err := settledARPEntries()
	if err != nil {
		t.Fatal(err)
	}
	n := int(entries) + NeighHeadroom
	SetSysctl(t, nil, "net.ipv4.neigh.default.gc_thresh3", strconv.Itoa(n))
	return n
}

// settledARPEntries is the ARP table's size once it stops shrinking: the entries of
// namespaces an earlier test tore down go some time after the namespace (measured: 66 left
// just after one test, 2 a few seconds later), and a limit sized on them leaves the next
// test room it did not mean to give. It waits at most 3 s.
func settledARPEntries() (uint64, error) {
	n, err := arpEntries()
	for i := 0; err == nil && i < 10; i++ {
		time.Sleep(300 * time.Millisecond)
		var m uint64
		if m, err = arpEntries(); err == nil && m >= n {
			return m, nil
		}
		n = m
	}
	return n, err
}

// UDPMemBatch sends n datagrams of UDPMemSize bytes from A, in turn, to UDPMemSinks fresh
// sinks on B (4 MiB buffers each, far from full) that read nothing until the last one is
// sent; then it counts what the sinks hold and closes them, which gives their memory back to
// the pool. Received of n is what the UDP memory pool took of one burst under whatever
// udp_mem is in force (LowerUDPMem, then nettune's plan).
func UDPMemBatch(t testing.TB, v *Veth, n int) (received int, err error) {
	sinks, err := batchSinks(v.B, v.BAddr, UDPMemSinks)
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	if err != nil {
		return 0, fmt.Errorf("udp mem batch: %w", err)
	}
	var dsts []string
	for _, s := range sinks {
		dsts = append(dsts, s.LocalAddr().String())
	}
	if _, err := sprayUDP(context.Background(), v.A, dsts, UDPMemSize, n); err != nil {
		return 0, fmt.Errorf("udp mem batch: %w", err)
	}
	buf := make([]byte, 2*UDPMemSize)
	for _, s := range sinks {
		// every datagram was queued before sendto returned (veth delivers in the sender's
		// softirq); the deadline only ends the drain
		_ = s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		for {
			if _, _, err := s.ReadFrom(buf); err != nil {
				break
			}
			received++
		}
	}
	return received, nil
}

// UDPMemLoad is InjectUDPMem's flood without touching udp_mem: fresh never-read sinks on B
// (closed when it returns, so their memory goes back to the pool), flooded from A until ctx
// ends (at most InjectMax).
func UDPMemLoad(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	sinks, err := batchSinks(v.B, v.BAddr, UDPMemSinks)
	defer func() {
		for _, s := range sinks {
			s.Close()
		}
	}()
	if err != nil {
		return FloodResult{}, fmt.Errorf("udp mem load: %w", err)
	}
	var dsts []string
	for _, s := range sinks {
		dsts = append(dsts, s.LocalAddr().String())
	}
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	return sprayUDP(ctx, v.A, dsts, UDPMemSize, 0)
}

// TCPMemLoad is InjectTCPMem's load without touching tcp_mem: a fresh receiver on B that
// accepts and never reads, TCPMemConns connections from A written to as fast as they take
// it until ctx ends (at most InjectMax); receiver and connections close when it returns, so
// their memory goes back to the pool.
func TCPMemLoad(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	dst, stop, err := heldTCP(v.B, v.BAddr+":0")
	if err != nil {
		return FloodResult{}, fmt.Errorf("tcp mem load: %w", err)
	}
	defer stop()
	conns, err := dialTCP(t, v.A, dst, TCPMemConns)
	if err != nil {
		return FloodResult{}, fmt.Errorf("tcp mem load: %w", err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	go func() {
		// a write blocked on a closed window returns at its deadline: end it with ctx
		<-ctx.Done()
		for _, c := range conns {
			_ = c.SetWriteDeadline(time.Now())
		}
	}()
	return writeAll(ctx, conns), nil
}

// batchSinks opens n UDP sockets on ip (any port) in ns with bigRcvBuf buffers, for the
// caller to read and close.
func batchSinks(ns *NS, ip string, n int) ([]*net.UDPConn, error) {
	var out []*net.UDPConn
	err := netns.Do(ns.name(), func() error {
		for range n {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
			if err != nil {
				return err
			}
			out = append(out, c)
			if err := setSockopt(c, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bigRcvBuf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		err = errors.Join(fmt.Errorf("sinks on %s in %s", ip, ns.name()), err)
	}
	return out, err
}
