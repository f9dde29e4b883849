package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of the socket-memory injectors. The pools are host-wide, so their limits are held
// for at most HostLimitMax, whatever the context says.
const (
	HostLimitMax = 3 * time.Second
	UDPMemLow    = "20 45 50" // net.ipv4.udp_mem during InjectUDPMem, pages
	UDPMemHard   = 50         // its last field
	UDPMemPort   = 9300       // InjectUDPMem's sinks listen on B at UDPMemPort..+UDPMemSinks-1
	UDPMemSinks  = 8
	UDPMemSize   = 1000       // bytes of each datagram
	TCPMemLow    = "20 50 50" // net.ipv4.tcp_mem during InjectTCPMem, pages
	TCPMemHard   = 50
	TCPMemPort   = 9400 // InjectTCPMem's receiver on B
	TCPMemConns  = 32
)

// InjectUDPMem lowers the host's net.ipv4.udp_mem to UDPMemLow and floods UDPMemSinks
// never-read sinks on B, whose own buffers (SO_RCVBUFFORCE 4 MiB) are far from full, with
// 1000-byte datagrams from A: the pool, not a socket, refuses them (PROTO_MEM). udp_mem is
// restored when the injector returns; the sinks keep what they hold until the test ends.
func InjectUDPMem(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	var dsts []string
	for i := range UDPMemSinks {
		s, err := udpSink(t, v.B, fmt.Sprintf("%s:%d", v.BAddr, UDPMemPort+i), SinkOpts{RcvBuf: bigRcvBuf})
		if err != nil {
			return FloodResult{}, fmt.Errorf("inject udp mem: %w", err)
		}
		dsts = append(dsts, s.Addr())
	}
	restore, err := holdSysctl(t, nil, "net.ipv4.udp_mem", UDPMemLow)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject udp mem: %w", err)
	}
	defer restore()
	ctx, cancel := context.WithTimeout(ctx, HostLimitMax)
	defer cancel()
	return sprayUDP(ctx, v.A, dsts, UDPMemSize, 0)
}

// InjectTCPMem lowers the host's net.ipv4.tcp_mem to TCPMemLow and opens TCPMemConns
// connections from A to a receiver on B that accepts and never reads, writing to all of them
// as fast as they take it: the queued data pushes the TCP pool past its hard limit. tcp_mem
// is restored when the injector returns; the connections, and the memory their queues
// hold, stay until the test ends.
func InjectTCPMem(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	dst := fmt.Sprintf("%s:%d", v.BAddr, TCPMemPort)
	if err := holdTCP(t, v.B, dst); err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp mem: %w", err)
	}
	conns, err := dialTCP(t, v.A, dst, TCPMemConns)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp mem: %w", err)
	}
	restore, err := holdSysctl(t, nil, "net.ipv4.tcp_mem", TCPMemLow)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject tcp mem: %w", err)
	}
	defer restore()
	ctx, cancel := context.WithTimeout(ctx, HostLimitMax)
	defer cancel()
	return writeAll(ctx, conns), nil
}

// sprayUDP sends size-byte datagrams from namespace from to each of dsts in turn, one
// socket per destination, until ctx ends or, with n > 0, n are sent.
func sprayUDP(ctx context.Context, from *NS, dsts []string, size, n int) (FloodResult, error) {
	to := make([]*net.UDPAddr, len(dsts))
	for i, d := range dsts {
		var err error
		if to[i], err = net.ResolveUDPAddr("udp4", d); err != nil {
			return FloodResult{}, err
		}
	}
	conns, err := udpSockets(from, len(dsts), false)
	if err != nil {
		return FloodResult{}, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var r FloodResult
	buf := make([]byte, size)
	start := time.Now()
	for i := 0; (n <= 0 || i < n) && (i%64 != 0 || ctx.Err() == nil); i++ {
		r.Sent++
		if _, err := conns[i%len(conns)].WriteTo(buf, to[i%len(to)]); err != nil {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// holdTCP listens on addr inside ns and keeps every connection it accepts open, unread,
// until the test ends.
func holdTCP(t testing.TB, ns *NS, addr string) error {
	_, stop, err := heldTCP(ns, addr)
	if err == nil {
		t.Cleanup(stop)
	}
	return err
}

// heldTCP listens on addr (port 0: any) inside ns and keeps every connection it accepts
// open, unread, until stop; it returns the address bound.
func heldTCP(ns *NS, addr string) (bound string, stop func(), err error) {
	var ln net.Listener
	err = netns.Do(ns.name(), func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("listen %s in %s: %w", addr, ns.name(), err)
	}
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}
	})
	var once sync.Once
	return ln.Addr().String(), func() {
		once.Do(func() {
			ln.Close()
			wg.Wait()
			for _, c := range held {
				c.Close()
			}
		})
	}, nil
}

// dialTCP opens n connections from namespace from to dst, closed when the test ends.
func dialTCP(t testing.TB, from *NS, dst string, n int) ([]net.Conn, error) {
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	err := netns.Do(from.name(), func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		for range n {
			c, err := d.Dial("tcp4", dst)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s from %s: %w", dst, from.name(), err)
	}
	return conns, nil
}

// writeAll writes 64 KiB chunks to every connection, each from its own goroutine, until
// ctx ends; Sent counts chunks written whole.
func writeAll(ctx context.Context, conns []net.Conn) FloodResult {
	var mu sync.Mutex
	var r FloodResult
	var wg sync.WaitGroup
	start := time.Now()
	deadline, _ := ctx.Deadline()
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			_ = c.SetWriteDeadline(deadline) // a window that never opens must not block past ctx
			var sent, failed int
			for ctx.Err() == nil {
				if _, err := c.Write(buf); err != nil {
					failed++
					break
				}
				sent++
			}
			mu.Lock()
			r.Sent, r.Errors = r.Sent+sent, r.Errors+failed
			mu.Unlock()
		})
	}
	wg.Wait()
	r.Elapsed = time.Since(start)
	return r
}
