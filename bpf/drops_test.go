package bpf

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// dropKind is how a test's drops show: by reason, or, on a kernel without drop reasons
// (< 5.17), as ReasonUnavailable at a function that frees such packets (as seen on 6.18 and
// 5.10: 5.10 frees a qdisc's drops in kfree_skb_list).
type dropKind struct {
	reason string
	funcs  []string
}

var (
	noSocket = dropKind{"NO_SOCKET", []string{"__udp4_lib_rcv", "udp_rcv"}} // 7.x inlines the former
	rcvbuf   = dropKind{"SOCKET_RCVBUFF", []string{"udp_queue_rcv_one_skb"}}
	qdisc    = dropKind{"QDISC_DROP", []string{"__dev_queue_xmit", "kfree_skb_list"}}
	backlog  = dropKind{"CPU_BACKLOG", []string{"enqueue_to_backlog"}}
)

func (k dropKind) String() string { return k.reason }

// is tells whether drop d is of this kind, as probes that count by location only see it or
// as probes with reasons do.
func (k dropKind) is(d model.DropCount, byLocation bool) bool {
	if !byLocation {
		return d.Reason == k.reason
	}
	fn, _, _ := strings.Cut(d.Location, "+")
	return d.Reason == model.ReasonUnavailable && slices.Contains(k.funcs, fn)
}

// byLocation: the probes count drops without reasons.
func byLocation(p *Probes) bool {
	_, ok := p.reasons[noReason]
	return ok
}

// dropsIn sums the drops of one kind in namespace ns (the program sees every namespace,
// and other tests may run on this host) and checks they name link and a symbolized location.
func dropsIn(t *testing.T, p *Probes, in *model.InPath, kind dropKind, ns *lab.NS, link string) uint64 {
	t.Helper()
	ino, err := netnsInode(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, d := range in.Drops {
		if d.Netns != ino || !kind.is(d, byLocation(p)) {
			continue
		}
		n += d.Count
		if d.Link != link {
			t.Errorf("drop %+v: want link %s", d, link)
		}
		if !strings.Contains(d.Location, "+0x") || strings.HasPrefix(d.Location, "0x") {
			t.Errorf("location %q not symbolized", d.Location)
		}
		t.Logf("%+v", d)
	}
	return n
}

// seenIn lists all drops in namespace ns, for failure messages.
func seenIn(t *testing.T, in *model.InPath, ns *lab.NS) []model.DropCount {
	t.Helper()
	ino, err := netnsInode(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	var out []model.DropCount
	for _, d := range in.Drops {
		if d.Netns == ino {
			out = append(out, d)
		}
	}
	return out
}

func TestDropNoSocket(t *testing.T) {
	_, b, v := pairDrops(t)
	p := attach(t, Options{Targets: []Target{{Netns: b.Name}}, Drops: true})
	closedPort(t, p, b, v)
}

// closedPort sends to a closed UDP port of b: every datagram is dropped once.
func closedPort(t *testing.T, p *Probes, b *lab.NS, v *lab.Veth) {
	t.Helper()
	s0 := snap(t, p)
	const sent = 200
	sendUDP(t, v.A, v.BAddr, 9, 1, sent, 64)
	time.Sleep(100 * time.Millisecond)
	in := diff(t, s0, snap(t, p))
	if n := dropsIn(t, p, in, noSocket, b, v.BName); n < sent*95/100 || n > sent {
		t.Errorf("%s drops %d, sent %d to a closed port; drops in %s: %+v", noSocket, n, sent, b.Name, seenIn(t, in, b))
	}
}

// TestDropLocationOnly loads the programs for kernels without drop reasons, whatever this
// kernel has, and checks that a closed port's drops are counted at their kernel function.
func TestDropLocationOnly(t *testing.T) {
	_, b, v := pairDrops(t)
	p, err := newProbes(Options{Targets: []Target{{Netns: b.Name}}, Drops: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.attachDrops(nil, ErrNoDropReasons); err != nil {
		t.Fatal(err)
	}
	p.Notes = p.notes.list()
	t.Logf("notes: %v", p.Notes)
	if len(p.Notes) == 0 || !strings.Contains(p.Notes[len(p.Notes)-1], "location only") {
		t.Errorf("notes %q do not say drops are counted by location only", p.Notes)
	}
	info, err := p.dropProg.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != dropsProgNettuneLoc && info.Name != dropsProgNettuneLocRt {
		t.Errorf("attached %s, want a location-only program", info.Name)
	}
	closedPort(t, p, b, v)
}

func TestDropSocketRcvbuf(t *testing.T) {
	_, b, v := pairDrops(t)
	var rx net.PacketConn
	b.Do(t, func() error {
		c, err := net.ListenPacket("udp4", v.BAddr+":7000")
		if err != nil {
			return err
		}
		rx = c
		// The smallest buffer the kernel allows; the test never reads.
		return c.(*net.UDPConn).SetReadBuffer(1)
	})
	defer rx.Close()
	p := attach(t, Options{Targets: []Target{{Netns: b.Name}}, Drops: true})
	s0 := snap(t, p)
	const sent = 300
	sendUDP(t, v.A, v.BAddr, 7000, 1, sent, 1000)
	time.Sleep(100 * time.Millisecond)
	in := diff(t, s0, snap(t, p))
	if n := dropsIn(t, p, in, rcvbuf, b, v.BName); n < sent/2 || n > sent {
		t.Errorf("%s drops %d of %d sent to a full socket; drops in %s: %+v", rcvbuf, n, sent, b.Name, seenIn(t, in, b))
	}
}

// TestDropQdisc: B's veth in NAPI mode (native XDP) pushes back on A when its ring is
// full (veth stops the TX queue), so the pfifo of limit 1 on A overflows.
func TestDropQdisc(t *testing.T) {
	a, b, v := pairDrops(t)
	setPfifo(t, a, v.AName, 1)
	attach(t, Options{Targets: []Target{{Netns: b.Name, Links: []string{v.BName}}}, InPath: true, XDPMode: XDPNative})
	p := attach(t, Options{Targets: []Target{{Netns: a.Name}}, Drops: true})
	n := untilDrops(t, p, qdisc, a, v.AName, func() {
		var wg sync.WaitGroup
		for cpu := range min(runtime.NumCPU(), 2) {
			wg.Go(func() { pinned(t, cpu, func() { sendUDP(t, a, v.BAddr, 9, 4, 5000, 64) }) })
		}
		wg.Wait()
	})
	t.Logf("%s %d", qdisc, n)
}

// TestDropBacklog steers the receiver's packets to CPU 1 with RPS while sending from CPU 0,
// with a tiny netdev_max_backlog: veth receives through netif_rx, so the backlog overflows.
func TestDropBacklog(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	lab.Global(t)
	a, b, v := pairDrops(t)
	lab.SetSysctl(t, nil, "net.core.netdev_max_backlog", "1")
	setRPS(t, b, v.BName, 0, "2")
	p := attach(t, Options{Targets: []Target{{Netns: b.Name}}, Drops: true})
	n := untilDrops(t, p, backlog, b, v.BName, func() {
		pinned(t, 0, func() { sendUDP(t, a, v.BAddr, 9, 8, 4000, 64) })
	})
	t.Logf("%s %d", backlog, n)
}

// untilDrops runs send up to ten times until drops of the kind show up in ns: whether a
// queue overflows depends on scheduling on a busy two-CPU machine.
func untilDrops(t *testing.T, p *Probes, kind dropKind, ns *lab.NS, link string, send func()) uint64 {
	t.Helper()
	s0 := snap(t, p)
	var in *model.InPath
	for range 10 {
		send()
		in = diff(t, s0, snap(t, p))
		if n := dropsIn(t, p, in, kind, ns, link); n > 0 {
			return n
		}
	}
	t.Fatalf("no %s drops in ten rounds; drops in %s: %+v", kind, ns.Name, seenIn(t, in, ns))
	return 0
}

// pairDrops skips where drops cannot be counted at all: without BTF. A kernel without drop
// reasons counts them by location.
func pairDrops(t *testing.T) (a, b *lab.NS, v *lab.Veth) {
	t.Helper()
	if _, _, err := chooseDropProgs(DropReasons()); err != nil {
		lab.RequireRoot(t)
		t.Skipf("drops: %v", err)
	}
	return pair(t, 1)
}

// pinned runs fn on a thread bound to one CPU.
func pinned(t *testing.T, cpu int, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set, old unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			t.Errorf("get affinity: %v", err)
			return
		}
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Errorf("pin to cpu %d: %v", cpu, err)
			return
		}
		defer unix.SchedSetaffinity(0, &old)
		fn()
	}()
	<-done
}

func setPfifo(t *testing.T, ns *lab.NS, link string, limit uint32) {
	t.Helper()
	var idx int
	ns.Do(t, func() error {
		l, err := net.InterfaceByName(link)
		idx = l.Index
		return err
	})
	err := withTC(ns.Name, func(s *tc.Tc) error {
		return s.Qdisc().Replace(&tc.Object{
			Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(idx), Handle: core.BuildHandle(1, 0), Parent: tc.HandleRoot},
			Attribute: tc.Attribute{Kind: "pfifo", Pfifo: &tc.FifoOpt{Limit: limit}},
		})
	})
	if err != nil {
		t.Fatalf("pfifo on %s: %v", link, err)
	}
}

// setRPS writes an RPS mask for a link of another namespace. sysfs shows the namespace of
// whoever mounted it, so the write happens in a private mount namespace with a fresh sysfs,
// on a thread that is discarded afterwards.
func setRPS(t *testing.T, ns *lab.NS, link string, queue int, mask string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's namespaces die with it
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare mount ns: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make / private: %w", err)
			}
			h, err := vnetns.GetFromName(ns.Name)
			if err != nil {
				return err
			}
			defer h.Close()
			if err := vnetns.Set(h); err != nil {
				return err
			}
			if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
				return fmt.Errorf("mount sysfs: %w", err)
			}
			path := fmt.Sprintf("/sys/class/net/%s/queues/rx-%d/rps_cpus", link, queue)
			return os.WriteFile(path, []byte(mask), 0o644)
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("rps on %s: %v", link, err)
	}
}

// TestDropProtoMemBySocket: with UDP's global memory pool exhausted (udp_mem), datagrams are
// dropped once they reach the socket, where UDP has reused skb->dev for its own data. The
// drop then belongs to the receiving socket's namespace (kfree_skb's rx_sk), with no
// interface; kernels whose tracepoint passes no socket count it under netns 0, "no
// namespace known" — never under a wrong one.
func TestDropProtoMemBySocket(t *testing.T) {
	if _, err := DropReasons(); err != nil {
		lab.RequireRoot(t)
		t.Skipf("needs drop reasons: %v", err)
	}
	lab.Global(t)
	_, b, v := pairDrops(t)
	var rx net.PacketConn
	b.Do(t, func() error {
		var err error
		if rx, err = net.ListenPacket("udp4", v.BAddr+":7002"); err != nil {
			return err
		}
		// A receive buffer far above what the pool grants, so the pool is the limit. The
		// kernel batches pool charges per CPU (up to net.core.mem_pcpu_rsv, 1 MiB), so the
		// pool shows full only after about a megabyte is queued.
		sc, err := rx.(*net.UDPConn).SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := sc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		}); err != nil {
			return err
		}
		return serr
	})
	defer rx.Close() // never read: every datagram stays charged to the pool
	p := attach(t, Options{Targets: []Target{{Netns: b.Name}}, Drops: true})
	want := uint64(0) // the bucket of drops with no namespace
	if p.kfreeSkbArgs() >= 4 {
		ino, err := netnsInode(b.Name)
		if err != nil {
			t.Fatal(err)
		}
		want = ino
	}
	lab.SetSysctl(t, nil, "net.ipv4.udp_mem", "1 1 1") // pages: only the per-socket minimum is granted
	s0 := snap(t, p)
	const sent = 3000
	sendUDP(t, v.A, v.BAddr, 7002, 1, sent, 1000)
	time.Sleep(100 * time.Millisecond)
	in := diff(t, s0, snap(t, p))
	var n uint64
	for _, d := range in.Drops {
		if d.Reason != "PROTO_MEM" {
			continue
		}
		t.Logf("%+v", d)
		if d.Netns != want || d.Ifindex != 0 {
			t.Errorf("PROTO_MEM drop in netns %d ifindex %d, want netns %d and no interface", d.Netns, d.Ifindex, want)
		}
		n += d.Count
	}
	if n < sent/2 {
		t.Errorf("%d PROTO_MEM drops of %d datagrams sent to a socket over udp_mem; drops in %s: %+v", n, sent, b.Name, seenIn(t, in, b))
	}
}
