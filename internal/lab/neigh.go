package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/netns"
)

// Settings of InjectNeighOverflow.
const (
	// NeighHeadroom is how far above the ARP table's current size the host's gc_thresh3 is
	// held: the burst needs only that many new entries to fill the table.
	NeighHeadroom = 64
	// NeighNet is the on-link subnet A gets on its veth, whose addresses nobody answers.
	NeighNet     = "198.19.0.1/16"
	NeighTargets = 1024 // distinct addresses the burst sends to
	// NeighUnresQueue is A's unres_qlen_bytes: a datagram or two wait per unresolved
	// neighbour, so repeated sends overflow the queue (unresolved_discards).
	NeighUnresQueue = 2048
)

// InjectNeighOverflow holds the host's net.ipv4.neigh.default.gc_thresh3 at the ARP table's
// current size plus NeighHeadroom (the table is shared by every namespace), puts A on the
// on-link subnet NeighNet (NeighOnLink) and sends UDP from A to NeighTargets addresses of it
// in turn until ctx ends (at most HostLimitMax). Each new address needs a neighbour entry
// that stays unresolved: the table fills within a few dozen sends and further entries cannot
// be created, while datagrams to the unresolved ones overflow their queues. gc_thresh3 is
// restored when the injector returns.
func InjectNeighOverflow(ctx context.Context, t testing.TB, v *Veth) (FloodResult, error) {
	Global(t)
	if err := NeighOnLink(t, v); err != nil {
		return FloodResult{}, fmt.Errorf("inject neigh overflow: %w", err)
	}
	entries, err := arpEntries()
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject neigh overflow: %w", err)
	}
	restore, err := holdSysctl(t, nil, "net.ipv4.neigh.default.gc_thresh3", strconv.FormatUint(entries+NeighHeadroom, 10))
	if err != nil {
		return FloodResult{}, fmt.Errorf("inject neigh overflow: %w", err)
	}
	defer restore()
	ctx, cancel := context.WithTimeout(ctx, HostLimitMax)
	defer cancel()
	return NeighSend(ctx, v, NeighTargets)
}

// NeighOnLink gives A's veth the on-link subnet NeighNet, whose addresses nobody answers,
// and A's unres_qlen_bytes NeighUnresQueue (restored at cleanup). Once per Veth.
func NeighOnLink(t testing.TB, v *Veth) error {
	err := netns.Do(v.A.name(), func() error {
		l, err := netlink.LinkByName(v.AName)
		if err != nil {
			return err
		}
		a, err := netlink.ParseAddr(NeighNet)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(l, a)
	})
	if err != nil {
		return fmt.Errorf("address %s on %s: %w", NeighNet, v.AName, err)
	}
	return setSysctl(t, v.A, "net.ipv4.neigh."+v.AName+".unres_qlen_bytes", strconv.Itoa(NeighUnresQueue))
}

// NeighSend sends 64-byte datagrams from A to the first targets addresses of NeighNet (from
// .1.0 on, never A's own .0.1) in turn until ctx ends (at most InjectMax), after
// NeighOnLink. Each address needs a neighbour entry of its own.
func NeighSend(ctx context.Context, v *Veth, targets int) (FloodResult, error) {
	prefix := netip.MustParsePrefix(NeighNet)
	base := binary.BigEndian.Uint32(prefix.Masked().Addr().AsSlice())
	dsts := make([]*net.UDPAddr, targets)
	for i := range dsts {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+256+uint32(i))
		dsts[i] = &net.UDPAddr{IP: a[:], Port: 9}
	}
	conns, err := udpSockets(v.A, 1, false)
	if err != nil {
		return FloodResult{}, fmt.Errorf("neigh send: %w", err)
	}
	defer conns[0].Close()
	ctx, cancel := context.WithTimeout(ctx, InjectMax)
	defer cancel()
	var r FloodResult
	buf := make([]byte, 64)
	start := time.Now()
	for i := 0; i%64 != 0 || ctx.Err() == nil; i++ {
		r.Sent++
		// A refused neighbour entry is ENOBUFS, which UDP does not report without IP_RECVERR.
		if _, err := conns[0].WriteTo(buf, dsts[i%len(dsts)]); err != nil {
			r.Errors++
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// arpEntries is the ARP table's entry count over every namespace, from the host's
// /proc/net/stat/arp_cache (entries, the first column, is the same on every row).
func arpEntries() (uint64, error) {
	var b []byte
	err := netns.Do("", func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/stat/arp_cache")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("arp table size: %w", err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || len(strings.Fields(lines[1])) == 0 {
		return 0, fmt.Errorf("arp table size: %q", b)
	}
	return strconv.ParseUint(strings.Fields(lines[1])[0], 16, 64)
}
