package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

var (
	global   sync.Mutex
	holderMu sync.Mutex
	holder   testing.TB // the test that holds global, so it may take it again
)

// Global serializes tests that change host-wide state (netdev_max_backlog, rmem_*, RPS,
// global tracing) until the test ends: a mutex within this process and an flock on a host
// file across processes (two `go test` runs, or a helper binary), which the kernel releases
// even if the process is killed.
func Global(t testing.TB) {
	t.Helper()
	holderMu.Lock()
	held := holder == t
	holderMu.Unlock()
	if held {
		return
	}
	global.Lock()
	dir := "/run/lock"
	if _, err := os.Stat(dir); err != nil {
		dir = os.TempDir() // a bare VM guest has no /run/lock
	}
	f, err := os.OpenFile(filepath.Join(dir, "nettune-lab-global.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		global.Unlock()
		t.Fatalf("global lab lock: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		global.Unlock()
		t.Fatalf("global lab lock: %v", err)
	}
	holderMu.Lock()
	holder = t
	holderMu.Unlock()
	t.Cleanup(func() {
		holderMu.Lock()
		holder = nil
		holderMu.Unlock()
		f.Close() // releases the flock
		global.Unlock()
	})
}

// Name returns a short unique name with the given prefix (interface names are ≤ 15 bytes).
func Name(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := prefix + hex.EncodeToString(b)
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// NS is a named network namespace created for one test.
type NS struct {
	Name string
	Path string
}

// NewNS creates a named namespace (visible under /run/netns, so nettune can be pointed at it
// by name), brings its loopback up, and deletes it when the test ends.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	RequireRoot(t)
	name := Name(prefix)
	errc := make(chan error, 1)
	go func() {
		// NewNamed switches the calling thread into the new namespace; the thread goes back
		// to its own after. Left there, the thread would be thrown away — unless it is the
		// process's main thread, which Go never ends: then /proc/PID/ns/net (the main
		// thread's) named the test's namespace, and a discovery took it for the host's.
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err := vnetns.NewNamed(name)
		if err != nil {
			errc <- err
			return
		}
		h.Close()
		if err := vnetns.Set(orig); err != nil {
			errc <- err // the thread stays locked: Go retires it
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	ns := &NS{Name: name, Path: netns.Path(name)}
	t.Cleanup(func() {
		if err := vnetns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	ns.Do(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	return ns
}

// Do runs fn inside the namespace and fails the test on error.
func (ns *NS) Do(t testing.TB, fn func() error) {
	t.Helper()
	if err := netns.Do(ns.Name, fn); err != nil {
		t.Fatalf("in netns %s: %v", ns.Name, err)
	}
}

// Handle returns a netlink handle bound to the namespace, closed at cleanup.
func (ns *NS) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := vnetns.GetFromName(ns.Name)
	if err != nil {
		t.Fatalf("open netns %s: %v", ns.Name, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns.Name, err)
	}
	t.Cleanup(nh.Close)
	return nh
}

// Veth describes a veth pair between two namespaces with addresses 10.x.y.1/24 and .2/24.
type Veth struct {
	A, B         *NS
	AName, BName string
	AAddr, BAddr string // IPv4 without prefix length
	Queues       int
}

// VethOpts configures NewVeth.
type VethOpts struct {
	Queues int // RX and TX queues on both ends (default 1)
	Subnet int // third octet of 198.18.<Subnet>.0/24 (default random)
}

// ManyVeths creates pairs veth pairs with both ends in ns (va<i>, vb<i>), for benchmarks
// and tests that need many interfaces, and returns their names; up sets them all up.
func ManyVeths(tb testing.TB, ns *NS, pairs int, up bool) []string {
	tb.Helper()
	h := ns.Handle(tb)
	names := make([]string, 0, 2*pairs)
	for i := range pairs {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("va%d", i)}, PeerName: fmt.Sprintf("vb%d", i)}
		if err := h.LinkAdd(v); err != nil {
			tb.Fatalf("add veth %s: %v", v.Name, err)
		}
		names = append(names, v.Name, v.PeerName)
	}
	if up {
		for _, n := range names {
			l, err := h.LinkByName(n)
			if err == nil {
				err = h.LinkSetUp(l)
			}
			if err != nil {
				tb.Fatalf("up %s: %v", n, err)
			}
		}
	}
	return names
}

// NewVeth creates a veth pair with end AName in a and BName in b, addresses them, and sets
// both up. The pair dies with its namespaces.
func NewVeth(t testing.TB, a, b *NS, o VethOpts) *Veth {
	t.Helper()
	if o.Queues <= 0 {
		o.Queues = 1
	}
	if o.Subnet == 0 {
		r := make([]byte, 1)
		_, _ = rand.Read(r)
		o.Subnet = int(r[0]%250) + 1
	}
	v := &Veth{A: a, B: b, AName: Name("nta"), BName: Name("ntb"), Queues: o.Queues,
		AAddr: fmt.Sprintf("198.18.%d.1", o.Subnet), BAddr: fmt.Sprintf("198.18.%d.2", o.Subnet)}
	bh, err := vnetns.GetFromName(b.Name)
	if err != nil {
		t.Fatalf("open netns %s: %v", b.Name, err)
	}
	defer bh.Close()
	ha := a.Handle(t)
	la := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: v.AName, NumTxQueues: o.Queues, NumRxQueues: o.Queues, TxQLen: 1000},
		PeerName:  v.BName, PeerNamespace: netlink.NsFd(bh),
		PeerNumTxQueues: uint32(o.Queues), PeerNumRxQueues: uint32(o.Queues), PeerTxQLen: 1000,
	}
	if err := ha.LinkAdd(la); err != nil {
		t.Fatalf("add veth %s/%s: %v", v.AName, v.BName, err)
	}
	up := func(h *netlink.Handle, name, addr string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("link %s: %v", name, err)
		}
		ad, err := netlink.ParseAddr(addr + "/24")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(l, ad); err != nil {
			t.Fatalf("addr %s on %s: %v", addr, name, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("up %s: %v", name, err)
		}
	}
	hb := b.Handle(t)
	up(ha, v.AName, v.AAddr)
	up(hb, v.BName, v.BAddr)
	aUp, bUp := ready(t, ha, v.AName), ready(t, hb, v.BName)
	// Static neighbours: no ARP round trip whose loss (e.g. to an injected backlog overflow)
	// would stall the first second of traffic.
	for _, n := range []struct {
		h    *netlink.Handle
		on   netlink.Link
		ip   string
		peer netlink.Link
	}{{ha, aUp, v.BAddr, bUp}, {hb, bUp, v.AAddr, aUp}} {
		err := n.h.NeighAdd(&netlink.Neigh{LinkIndex: n.on.Attrs().Index, Family: netlink.FAMILY_V4,
			State: netlink.NUD_PERMANENT, IP: net.ParseIP(n.ip), HardwareAddr: n.peer.Attrs().HardwareAddr})
		if err != nil {
			t.Fatalf("neighbour %s on %s: %v", n.ip, n.on.Attrs().Name, err)
		}
	}
	return v
}

// ready waits until the kernel's link watcher has seen the link up: until then the device
// still has the noop qdisc and drops everything sent (it can take a second on a busy host,
// where netns teardown holds the rtnl lock).
func ready(t testing.TB, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("link %s: %v", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("link %s not up after 10s: %s", name, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SetSysctl writes a sysctl (dotted key) inside ns (nil = the test's own namespace, i.e.
// global keys) and restores the value it found when the test ends, even on failure.
func SetSysctl(t testing.TB, ns *NS, key, value string) {
	t.Helper()
	if err := setSysctl(t, ns, key, value); err != nil {
		t.Fatal(err)
	}
}

// setSysctl is SetSysctl returning the error, for helpers that may run off the test goroutine.
func setSysctl(t testing.TB, ns *NS, key, value string) error {
	name := ns.name()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	var old []byte
	err := netns.Do(name, func() error {
		var err error
		if old, err = os.ReadFile(path); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(value), 0o644)
	})
	if err != nil {
		return fmt.Errorf("set %s=%s: %w", key, value, err)
	}
	t.Cleanup(func() {
		err := netns.Do(name, func() error { return os.WriteFile(path, old, 0o644) })
		if err != nil && !errors.Is(err, netns.ErrNotFound) {
			t.Errorf("restore %s: %v", key, err)
		}
	})
	return nil
}

// name is the namespace name for internal/netns; a nil *NS means the test's own namespace.
func (ns *NS) name() string {
	if ns == nil {
		return ""
	}
	return ns.Name
}

// Inode is the inode of a namespace file (a /run/netns name, /proc/PID/ns/net): the
// namespace's identity, as nettune's results name it.
func Inode(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}
