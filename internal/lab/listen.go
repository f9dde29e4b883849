package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of InjectListenBacklog and the SYN floods.
const (
	ListenBacklog   = 20   // the application's listen() backlog in InjectListenBacklog
	ListenSomaxconn = 4096 // B's net.core.somaxconn meanwhile: not the limit
	ListenPort      = 9600
	SYNFloodBacklog = 128 // the flooded listener's backlog: it also bounds the SYN queue
	SYNFloodPort    = 9700
	SYNFloodPPS     = 20000
	// SpoofedNet holds the flood's source addresses (inside 198.18.0.0/15): B routes it back
	// through A, which owns none of it and forwards nothing, so no SYN-ACK is ever answered.
	SpoofedNet = "198.19.0.0/16"
)

// InjectListenBacklog sets B's somaxconn to ListenSomaxconn, listens there with the
// application backlog ListenBacklog and never accepts, then opens connections from A in
// storms of 64 until ctx ends: the accept queue overflows at the application's backlog, far
// below somaxconn. Sent counts connection attempts, Errors those whose handshake did not
// complete.
func InjectListenBacklog(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	if err := setSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(ListenSomaxconn)); err != nil {
		return FloodResult{}, fmt.Errorf("inject listen backlog: %w", err)
	}
	l, err := tcpListen(t, v.B, fmt.Sprintf("%s:%d", v.BAddr, ListenPort), ListenBacklog, false)
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject listen backlog: %w", err)
	}
	return connectStorms(ctx, v, l.Addr(), 64), nil
}

// InjectSYNFlood floods a listener on B (backlog SYNFloodBacklog, B's tcp_syncookies set to
// 1, the default) with SYNs from A whose sources are random addresses and ports of
// SpoofedNet, SYNFloodPPS a second, until ctx ends. No handshake ever completes: the SYN
// queue fills and the kernel answers with cookies.
func InjectSYNFlood(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	return synFlood(ctx, t, v, 1)
}

// InjectSYNFloodNoCookies is InjectSYNFlood with B's tcp_syncookies at 0: SYNs beyond the
// full SYN queue are dropped.
func InjectSYNFloodNoCookies(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	return synFlood(ctx, t, v, 0)
}

func synFlood(ctx context.Context, t testing.TB, v *Veth, cookies int) (FloodResult, error) {
	if err := setSysctl(t, v.B, "net.ipv4.tcp_syncookies", strconv.Itoa(cookies)); err != nil {
		return FloodResult{}, fmt.Errorf("inject syn flood: %w", err)
	}
	dst := fmt.Sprintf("%s:%d", v.BAddr, SYNFloodPort)
	if _, err := tcpListen(t, v.B, dst, SYNFloodBacklog, true); err != nil {
		return FloodResult{}, fmt.Errorf("inject syn flood: %w", err)
	}
	if err := routeVia(v.B, SpoofedNet, v.AAddr); err != nil {
		return FloodResult{}, fmt.Errorf("inject syn flood: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	return spoofedSYNs(ctx, v.A, netip.MustParseAddrPort(dst), netip.MustParsePrefix(SpoofedNet), SYNFloodPPS)
}

// routeVia adds a route to prefix through gateway gw inside ns; it goes with the namespace.
func routeVia(ns *NS, prefix, gw string) error {
	_, dst, err := net.ParseCIDR(prefix)
	if err != nil {
		return err
	}
	return netns.Do(ns.name(), func() error {
		if err := netlink.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP(gw)}); err != nil {
			return fmt.Errorf("route %s via %s in %s: %w", prefix, gw, ns.name(), err)
		}
		return nil
	})
}

// spoofedSYNs sends TCP SYNs to dst from random addresses and ports of src over a raw
// socket of namespace from, pps a second in bursts of 100, until ctx ends.
func spoofedSYNs(ctx context.Context, from *NS, dst netip.AddrPort, src netip.Prefix, pps int) (FloodResult, error) {
	var fd int
	err := netns.Do(from.name(), func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW) // IP_HDRINCL
		return err
	})
	if err != nil {
		return FloodResult{}, fmt.Errorf("raw socket in %s: %w", from.name(), err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
	base := binary.BigEndian.Uint32(src.Masked().Addr().AsSlice())
	hosts := uint32(1)<<(32-src.Bits()) - 2
	var r FloodResult
	pkt := make([]byte, 40)
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		if i%100 == 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(pps))); wait > 0 {
				time.Sleep(wait)
			}
		}
		var s [4]byte
		binary.BigEndian.PutUint32(s[:], base+1+rand.Uint32N(hosts))
		synPacket(pkt, s, uint16(1024+rand.IntN(64000)), dst.Addr().As4(), dst.Port(), rand.Uint32())
		r.Sent++
		if err := unix.Sendto(fd, pkt, 0, to); err != nil {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// synPacket writes an IPv4 header and a TCP SYN into b (40 bytes). The kernel fills in the
// IP ID and header checksum of an IP_HDRINCL packet; the TCP checksum is computed here.
func synPacket(b []byte, src [4]byte, sport uint16, dst [4]byte, dport uint16, seq uint32) {
	clear(b)
	b[0] = 0x45 // IPv4, 5-word header
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8] = 64 // TTL
	b[9] = unix.IPPROTO_TCP
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12] = 5 << 4 // data offset: 5 words
	tcp[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	// Checksum over the pseudo-header (addresses, protocol, TCP length) and the segment.
	sum := uint32(unix.IPPROTO_TCP) + 20
	for _, w := range [][]byte{src[:], dst[:], tcp} {
		for i := 0; i+1 < len(w); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(w[i:]))
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(tcp[16:], ^uint16(sum))
}
