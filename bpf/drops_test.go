package bpf

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/tuner/lab"
	"github.com/nettune/nettune/tuner/sample"
)

// dropsIn sums the drops of one reason in namespace ns (the program sees every namespace,
// and other tests may run on this host) and checks they name link and a symbolized location.
func dropsIn(t *testing.T, in *sample.InPath, reason string, ns *lab.NS, link string) uint64 {
	t.Helper()
	ino, err := netnsInode(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, d := range in.Drops {
		if d.Reason != reason || d.Netns != ino {
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

func TestDropNoSocket(t *testing.T) {
	_, b, v := pairDrops(t)
	p := attach(t, Options{Netns: b.Name, Drops: true})
	s0 := snap(t, p)
	const sent = 200
	sendUDP(t, v.A, v.BAddr, 9, 1, sent, 64)
	time.Sleep(100 * time.Millisecond)
	n := dropsIn(t, diff(t, s0, snap(t, p)), "NO_SOCKET", b, v.BName)
	if n < sent*95/100 || n > sent {
		t.Errorf("NO_SOCKET drops %d, sent %d to a closed port", n, sent)
	}
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
	p := attach(t, Options{Netns: b.Name, Drops: true})
	s0 := snap(t, p)
	const sent = 300
	sendUDP(t, v.A, v.BAddr, 7000, 1, sent, 1000)
	time.Sleep(100 * time.Millisecond)
	n := dropsIn(t, diff(t, s0, snap(t, p)), "SOCKET_RCVBUFF", b, v.BName)
	if n < sent/2 || n > sent {
		t.Errorf("SOCKET_RCVBUFF drops %d of %d sent to a full socket", n, sent)
	}
}

// TestDropQdisc: B's veth in NAPI mode (native XDP) pushes back on A when its ring is
// full (veth stops the TX queue), so the pfifo of limit 1 on A overflows.
func TestDropQdisc(t *testing.T) {
	a, b, v := pairDrops(t)
	setPfifo(t, a, v.AName, 1)
	attach(t, Options{Netns: b.Name, Links: []string{v.BName}, InPath: true, XDPMode: XDPNative})
	p := attach(t, Options{Netns: a.Name, Drops: true})
	n := untilDrops(t, p, "QDISC_DROP", a, v.AName, func() {
		var wg sync.WaitGroup
		for cpu := range min(runtime.NumCPU(), 2) {
			wg.Go(func() { pinned(t, cpu, func() { sendUDP(t, a, v.BAddr, 9, 4, 5000, 64) }) })
		}
		wg.Wait()
	})
	t.Logf("QDISC_DROP %d", n)
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
	p := attach(t, Options{Netns: b.Name, Drops: true})
	n := untilDrops(t, p, "CPU_BACKLOG", b, v.BName, func() {
		pinned(t, 0, func() { sendUDP(t, a, v.BAddr, 9, 8, 4000, 64) })
	})
	t.Logf("CPU_BACKLOG %d", n)
}

// untilDrops runs send up to ten times until drops of the reason show up in ns: whether a
// queue overflows depends on scheduling on a busy two-CPU machine.
func untilDrops(t *testing.T, p *Probes, reason string, ns *lab.NS, link string, send func()) uint64 {
	t.Helper()
	s0 := snap(t, p)
	for range 10 {
		send()
		if n := dropsIn(t, diff(t, s0, snap(t, p)), reason, ns, link); n > 0 {
			return n
		}
	}
	t.Fatalf("no %s drops in ten rounds", reason)
	return 0
}

func pairDrops(t *testing.T) (a, b *lab.NS, v *lab.Veth) {
	t.Helper()
	if _, err := DropReasons(); err != nil {
		lab.RequireRoot(t)
		t.Skipf("drop reasons: %v", err)
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
