package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// Bounds applied when FloodOpts leaves them zero: every generator stops by itself.
const (
	DefaultFloodPackets  = 1 << 20
	DefaultFloodDuration = 5 * time.Second
)

// FloodOpts bounds and shapes a UDP flood. Zero values take the defaults noted.
type FloodOpts struct {
	Packets  int           // datagrams to send at most (DefaultFloodPackets)
	Size     int           // payload bytes (64; FragmentedUDP: random 8–60 KiB)
	Flows    int           // distinct source ports, to spread RSS/RPS hashing (1)
	Duration time.Duration // stop after this long (DefaultFloodDuration)
	PPS      int           // datagrams per second; 0 = as fast as one thread can
	Burst    int           // with PPS: datagrams sent back to back per pacing slot (1)
	CPUs     []int         // pin the sending thread to these CPUs; nil = anywhere
}

// FloodResult is what a generator did before it stopped.
type FloodResult struct {
	Sent    int // datagrams (or connection attempts) handed to the kernel
	Errors  int // sends that returned an error
	Elapsed time.Duration
}

// UDPFlood sends datagrams from namespace from (nil = the test's own) to dst ("ip:port")
// until o.Packets, o.Duration or ctx ends it. The sockets are unconnected, so ICMP errors
// coming back never fail a send.
func UDPFlood(ctx context.Context, from *NS, dst string, o FloodOpts) (FloodResult, error) {
	if o.Size <= 0 {
		o.Size = 64
	}
	return flood(ctx, from, dst, o, func(int) int { return o.Size }, false)
}

// Datagram sizes FragmentedUDP uses when FloodOpts.Size is zero: all above a 1500-byte MTU.
const (
	minFragSize = 8 << 10
	maxFragSize = 60 << 10
)

// FragmentedUDP is UDPFlood with datagrams larger than the path MTU, sent with
// IP_PMTUDISC_DONT so the sending kernel fragments them and the receiver must reassemble.
// Size 0 picks a random size in 8–60 KiB per datagram; sizes above 65507 are refused.
func FragmentedUDP(ctx context.Context, from *NS, dst string, o FloodOpts) (FloodResult, error) {
	if o.Size > 65507 {
		return FloodResult{}, fmt.Errorf("fragmented udp: size %d above the udp maximum", o.Size)
	}
	size := func(int) int { return o.Size }
	if o.Size <= 0 {
		size = func(int) int { return minFragSize + rand.IntN(maxFragSize-minFragSize+1) }
	}
	return flood(ctx, from, dst, o, size, true)
}

// PortScan sends one small datagram to each port of dstIP from namespace from; with nothing
// listening the receiver counts Udp.NoPorts. It stops early when ctx ends.
func PortScan(ctx context.Context, from *NS, dstIP string, ports []int) (FloodResult, error) {
	ip := net.ParseIP(dstIP)
	if ip == nil {
		return FloodResult{}, fmt.Errorf("port scan: bad address %q", dstIP)
	}
	conns, err := udpSockets(from, 1, false)
	if err != nil {
		return FloodResult{}, err
	}
	defer conns[0].Close()
	var r FloodResult
	start := time.Now()
	buf := make([]byte, 16)
	for _, p := range ports {
		if ctx.Err() != nil {
			break
		}
		r.Sent++
		if _, err := conns[0].WriteTo(buf, &net.UDPAddr{IP: ip, Port: p}); err != nil {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

func flood(ctx context.Context, from *NS, dst string, o FloodOpts, size func(int) int, fragment bool) (FloodResult, error) {
	to, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		return FloodResult{}, fmt.Errorf("flood: %w", err)
	}
	if o.Packets <= 0 {
		o.Packets = DefaultFloodPackets
	}
	if o.Duration <= 0 {
		o.Duration = DefaultFloodDuration
	}
	if o.Flows <= 0 {
		o.Flows = 1
	}
	conns, err := udpSockets(from, o.Flows, fragment)
	if err != nil {
		return FloodResult{}, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	type out struct {
		r   FloodResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		if o.CPUs != nil {
			// Never unlocked: the runtime retires this thread with its changed affinity.
			runtime.LockOSThread()
			if err := pinThread(o.CPUs); err != nil {
				done <- out{err: err}
				return
			}
		}
		done <- out{r: sendLoop(ctx, conns, to, o, size)}
	}()
	res := <-done
	return res.r, res.err
}

func sendLoop(ctx context.Context, conns []*net.UDPConn, to *net.UDPAddr, o FloodOpts, size func(int) int) FloodResult {
	var r FloodResult
	buf := make([]byte, 65507)
	start := time.Now()
	for i := 0; i < o.Packets; i++ {
		// Checking the context on every datagram costs more than the send on a fast path.
		if i%64 == 0 && ctx.Err() != nil {
			break
		}
		if o.PPS > 0 && i%max(o.Burst, 1) == 0 {
			due := start.Add(time.Duration(i) * time.Second / time.Duration(o.PPS))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				if ctx.Err() != nil {
					break
				}
			}
		}
		r.Sent++
		if _, err := conns[i%len(conns)].WriteTo(buf[:size(i)], to); err != nil {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	return r
}

// udpSockets opens n unconnected IPv4 UDP sockets inside ns, each on its own ephemeral port.
func udpSockets(ns *NS, n int, fragment bool) ([]*net.UDPConn, error) {
	var conns []*net.UDPConn
	err := netns.Do(ns.name(), func() error {
		for range n {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{})
			if err != nil {
				return err
			}
			conns = append(conns, c)
			if fragment {
				if err := setSockopt(c, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return nil, fmt.Errorf("udp sockets in %s: %w", ns.name(), err)
	}
	return conns, nil
}

func setSockopt(c syscall.Conn, level, opt, value int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) }); err != nil {
		return err
	}
	return serr
}

func getSockopt(c syscall.Conn, level, opt int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		return 0, err
	}
	return v, serr
}

func pinThread(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin sender to cpus %v: %w", cpus, err)
	}
	return nil
}

// SinkOpts configures UDPSink.
type SinkOpts struct {
	RcvBuf int  // SO_RCVBUF request (set with SO_RCVBUFFORCE, so rmem_max does not cap it); 0 = default
	Read   bool // false: never read, so the receive buffer fills and the kernel drops
}

// Sink is a UDP socket in a test namespace that counts what it reads.
type Sink struct {
	conn     *net.UDPConn
	rcvBuf   int
	received atomic.Int64
	wg       sync.WaitGroup
}

// UDPSink binds addr ("ip:port", port 0 = any) inside ns and, with o.Read, reads and counts
// datagrams until the test ends; the socket is closed at cleanup.
func UDPSink(t testing.TB, ns *NS, addr string, o SinkOpts) *Sink {
	t.Helper()
	s, err := udpSink(t, ns, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func udpSink(t testing.TB, ns *NS, addr string, o SinkOpts) (*Sink, error) {
	s := &Sink{}
	err := netns.Do(ns.name(), func() error {
		la, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		if s.conn, err = net.ListenUDP("udp4", la); err != nil {
			return err
		}
		if o.RcvBuf > 0 {
			return setSockopt(s.conn, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, o.RcvBuf)
		}
		return nil
	})
	if err == nil {
		s.rcvBuf, err = getSockopt(s.conn, unix.SOL_SOCKET, unix.SO_RCVBUF)
	}
	if err != nil {
		if s.conn != nil {
			s.conn.Close()
		}
		return nil, fmt.Errorf("udp sink %s in %s: %w", addr, ns.name(), err)
	}
	if o.Read {
		s.wg.Go(s.readLoop)
	}
	t.Cleanup(func() {
		s.conn.Close()
		s.wg.Wait()
	})
	return s, nil
}

func (s *Sink) readLoop() {
	buf := make([]byte, 65536)
	for {
		if _, _, err := s.conn.ReadFrom(buf); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.received.Add(1)
	}
}

// Addr is the bound address ("ip:port") to send to.
func (s *Sink) Addr() string { return s.conn.LocalAddr().String() }

// RcvBuf is the receive buffer the kernel granted (it doubles requests and applies a floor).
func (s *Sink) RcvBuf() int { return s.rcvBuf }

// Received is the number of datagrams read so far.
func (s *Sink) Received() int { return int(s.received.Load()) }
