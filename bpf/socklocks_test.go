package bpf

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

func mustSockLocks(t *testing.T) *SockLocks {
	t.Helper()
	lab.RequireRoot(t)
	l, err := LoadSockLocks()
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("socket iterators: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// inode is the socket inode of a connection or listener.
func inode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := control(c, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func control(c syscall.Conn, fn func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// TestSockLocksAppRcvbuf: two UDP sinks end with the same receive buffer (16384, as
// rmem_default) and both drop, but only the one whose application called SO_RCVBUF holds
// SOCK_RCVBUF_LOCK. Read in B's namespace, through kstat as the collector does.
func TestSockLocksAppRcvbuf(t *testing.T) {
	l := mustSockLocks(t)
	v := lab.NewVeth(t, lab.NewNS(t, "slA"), lab.NewNS(t, "slB"), lab.VethOpts{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := lab.InjectAppRcvbuf(ctx, t, v); err != nil {
		t.Fatal(err)
	}
	s := &model.Sample{}
	err := netns.Do(v.B.Name, func() (err error) {
		if s.UDPSockets, err = kstat.ReadUDPSockets("/proc", nldump.OpenDumper); err != nil {
			return err
		}
		if errs := kstat.ReadNetns(s, kstat.Env{ProcRoot: "/proc", Netlink: nldump.OpenDumper, Locks: l}); errs != nil {
			t.Errorf("readers: %q", errs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, u := range s.UDPSockets {
		t.Logf("%+v set %v", u, u.RcvBufSet != nil && *u.RcvBufSet)
		_, port, _ := net.SplitHostPort(u.Local)
		app, plain := strconv.Itoa(lab.AppRcvbufPort), strconv.Itoa(lab.PlainRcvbufPort)
		want := port == app
		if port != app && port != plain {
			continue
		}
		seen++
		switch {
		case u.Drops == 0 || u.RcvBuf != lab.AppRmemDefault:
			t.Errorf("%s: %d drops, rcvbuf %d: want drops and rcvbuf %d", u.Local, u.Drops, u.RcvBuf, lab.AppRmemDefault)
		case u.RcvBufSet == nil || *u.RcvBufSet != want:
			t.Errorf("%s: rcvbuf set %v, want %v", u.Local, u.RcvBufSet, want)
		}
	}
	if seen != 2 {
		t.Errorf("%d of the 2 sinks listed: %+v", seen, s.UDPSockets)
	}
}

// TestSockLocksTCPAndNamespaces: listeners and connected TCP sockets report their locks
// (SO_SNDBUF alone is no SO_RCVBUF lock); a socket of another namespace is not listed, so its
// inode reads 0 from here.
func TestSockLocksTCPAndNamespaces(t *testing.T) {
	l := mustSockLocks(t)
	ns := lab.NewNS(t, "slT")
	var set, plain, snd *net.TCPListener
	var conn *net.TCPConn
	ns.Do(t, func() (err error) {
		listen := func() (*net.TCPListener, error) {
			return net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		}
		if set, err = listen(); err != nil {
			return err
		}
		if plain, err = listen(); err != nil {
			return err
		}
		if snd, err = listen(); err != nil {
			return err
		}
		if conn, err = net.DialTCP("tcp4", nil, plain.Addr().(*net.TCPAddr)); err != nil {
			return err
		}
		for _, x := range []struct {
			c   syscall.Conn
			opt int
		}{{set, unix.SO_RCVBUF}, {snd, unix.SO_SNDBUF}, {conn, unix.SO_RCVBUF}} {
			if err := control(x.c, func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, x.opt, 65536) }); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []interface{ Close() error }{set, plain, snd, conn} {
		t.Cleanup(func() { c.Close() })
	}
	// A socket of the test's own namespace with SO_RCVBUF.
	host, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if err := host.SetReadBuffer(65536); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]uint8{
		inode(t, set): 2, inode(t, plain): 0, inode(t, snd): 1, inode(t, conn): 2,
		inode(t, host): 0,
	}
	var inodes []uint64
	for i := range want {
		inodes = append(inodes, i)
	}
	var got map[uint64]uint8
	ns.Do(t, func() (err error) { got, err = l.BufferLocks(inodes); return err })
	for i, w := range want {
		if got[i] != w {
			t.Errorf("inode %d: locks %d, want %d", i, got[i], w)
		}
	}
	// From the test's own namespace the host socket is listed.
	err = netns.Do("", func() (err error) { got, err = l.BufferLocks([]uint64{inode(t, host)}); return err })
	if err != nil || got[inode(t, host)] != 2 {
		t.Errorf("own namespace: %v, %v", got, err)
	}
}

// TestSockLocksBitfieldLayout relocates the iterators against this kernel's types with
// sk_userlocks turned into the 4-bit field older kernels have (5.10–6.x), placed on the bits
// this kernel's u8 keeps the locks in: the bitfield read must find the same locks.
func TestSockLocksBitfieldLayout(t *testing.T) {
	lab.RequireRoot(t)
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("kernel btf: %v", err)
	}
	var sock *btf.Struct
	if err := kernel.TypeByName("sock", &sock); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(sock.Members, func(m btf.Member) bool { return m.Name == "sk_userlocks" })
	if i < 0 {
		t.Fatal("struct sock has no sk_userlocks")
	}
	if sock.Members[i].BitfieldSize != 0 {
		t.Skip("this kernel already has the bitfield layout: the plain load tests it")
	}
	sock.Members[i].BitfieldSize = 4
	l, err := loadSockLocks(&ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ns := lab.NewNS(t, "slF")
	var set, plain *net.UDPConn
	ns.Do(t, func() (err error) {
		if set, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		if plain, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		return set.SetReadBuffer(4096)
	})
	defer set.Close()
	defer plain.Close()
	var got map[uint64]uint8
	ns.Do(t, func() (err error) { got, err = l.BufferLocks([]uint64{inode(t, set), inode(t, plain)}); return err })
	if got[inode(t, set)] != 2 || got[inode(t, plain)] != 0 {
		t.Errorf("locks %v: want SO_RCVBUF's 2 and 0", got)
	}
}

// BenchmarkSockLocks runs both iterators in a namespace with 10 000 UDP sockets, every
// other one with SO_RCVBUF (5 000 records to read), asking about 16 of them.
func BenchmarkSockLocks(b *testing.B) {
	lab.RequireRoot(b)
	l, err := LoadSockLocks()
	if err != nil {
		b.Skip(err)
	}
	defer l.Close()
	ns := lab.NewNS(b, "slb")
	var inodes []uint64
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ns.Do(b, func() error {
		for i := range 10000 {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return err
			}
			conns = append(conns, c)
			if i%2 == 0 {
				if err := c.SetReadBuffer(65536); err != nil {
					return err
				}
			}
			if i%625 == 0 {
				var st unix.Stat_t
				if err := control(c, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
					return err
				}
				inodes = append(inodes, st.Ino)
			}
		}
		return nil
	})
	b.ReportAllocs()
	ns.Do(b, func() error {
		for b.Loop() {
			got, err := l.BufferLocks(inodes)
			if err != nil || len(got) != len(inodes) {
				b.Fatalf("%v, %v", got, err)
			}
		}
		return nil
	})
}

func FuzzReadLockRecords(f *testing.F) {
	f.Add(make([]byte, 2*lockRecordLen), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, ino uint64) {
		out := map[uint64]uint8{ino: 0}
		err := readLockRecords(bytes.NewReader(b), out)
		if (err == nil) != (len(b)%lockRecordLen == 0) || len(out) != 1 {
			t.Fatalf("%d bytes: %v, %v", len(b), out, err)
		}
	})
}
