package kstat

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// TestReadUDPSocketsInNetns floods three never-reading sinks in a namespace: one that never
// set SO_RCVBUF, one that forced 8192, one that asked for more than rmem_max. Read on a
// thread inside that namespace, each shows its drops and the buffer the kernel gave it — the
// sock_diag socket must have been opened in the namespace, or it would list other sockets.
func TestReadUDPSocketsInNetns(t *testing.T) {
	lab.RequireRoot(t)
	v := lab.NewVeth(t, lab.NewNS(t, "usA"), lab.NewNS(t, "usB"), lab.VethOpts{})
	plain := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{})
	small := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{RcvBuf: 8192})
	var big *net.UDPConn
	v.B.Do(t, func() (err error) {
		if big, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(v.BAddr)}); err != nil {
			return err
		}
		return big.SetReadBuffer(1 << 30) // plain SO_RCVBUF: clamped to rmem_max
	})
	t.Cleanup(func() { big.Close() })

	var sysctls map[string]string
	v.B.Do(t, func() (err error) {
		sysctls, err = ReadSysctls("/proc", []string{"net.core.rmem_default", "net.core.rmem_max"})
		return err
	})
	if len(sysctls) < 2 {
		// Before 6.11 rmem_* are not visible in a child namespace; sockets there still get
		// the global values.
		var err error
		if sysctls, err = ReadSysctls("/proc", []string{"net.core.rmem_default", "net.core.rmem_max"}); err != nil {
			t.Fatal(err)
		}
	}
	rmemDefault, err1 := strconv.ParseUint(sysctls["net.core.rmem_default"], 10, 32)
	rmemMax, err2 := strconv.ParseUint(sysctls["net.core.rmem_max"], 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("netns sysctls %v", sysctls)
	}

	ctx := context.Background()
	for _, dst := range []struct {
		addr    string
		packets int
	}{{plain.Addr(), 2000}, {small.Addr(), 500}, {big.LocalAddr().String(), 4*int(rmemMax)/1024 + 2000}} {
		if _, err := lab.UDPFlood(ctx, v.A, dst.addr, lab.FloodOpts{Size: 1024, Packets: dst.packets, Duration: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}

	var socks, proc []model.UDPSocket
	err := netns.Do(v.B.Name, func() (err error) {
		if socks, err = ReadUDPSockets("/proc", nldump.OpenDumper); err != nil {
			return err
		}
		proc, err = readProcUDP("/proc")
		return err
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Skipf("no sock_diag for UDP in this kernel (udp_diag not built or loaded): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The fallback reads the same sockets from the namespace's /proc/thread-self/net/udp.
	diag := map[uint64]model.UDPSocket{}
	for _, s := range socks {
		diag[s.Inode] = s
	}
	for _, p := range proc {
		if s, ok := diag[p.Inode]; !ok || p.Local != s.Local || p.Drops < s.Drops || p.RcvBuf != 0 {
			t.Errorf("/proc/net/udp %+v, sock_diag %+v", p, s)
		}
	}
	if len(proc) != len(socks) {
		t.Errorf("sock_diag %+v\n/proc/net/udp %+v", socks, proc)
	}
	byAddr := map[string]model.UDPSocket{}
	for _, s := range socks {
		byAddr[s.Local] = s
	}
	for _, want := range []struct {
		name, addr string
		rcvbuf     uint64
	}{
		{"never set SO_RCVBUF", plain.Addr(), rmemDefault},
		{"SO_RCVBUFFORCE 8192", small.Addr(), 16384},
		{"SO_RCVBUF above rmem_max", big.LocalAddr().String(), 2 * rmemMax},
	} {
		s, ok := byAddr[want.addr]
		switch {
		case !ok:
			t.Errorf("%s: %s not listed: %+v", want.name, want.addr, socks)
		case s.Drops == 0 || s.Inode == 0 || s.RxQueue == 0:
			t.Errorf("%s: %+v: want drops, inode and a full queue", want.name, s)
		case uint64(s.RcvBuf) != want.rcvbuf:
			t.Errorf("%s: rcvbuf %d, want %d", want.name, s.RcvBuf, want.rcvbuf)
		}
	}
}

// BenchmarkReadUDPSockets reads this machine's namespace as it is, and a namespace holding
// 10 000 UDP sockets of which 20 dropped (the cap applies) — through sock_diag and through the
// /proc/net/udp fallback, whose cost grows with the square of the socket count.
func BenchmarkReadUDPSockets(b *testing.B) {
	b.Run("host", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ReadUDPSockets("/proc", nldump.OpenDumper); err != nil {
				b.Fatal(err)
			}
		}
	})
	lab.RequireRoot(b)
	ns := lab.NewNS(b, "usb")
	ns.Do(b, func() error {
		tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		b.Cleanup(func() { tx.Close() })
		payload := make([]byte, 1024)
		for i := range 10000 {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return err
			}
			b.Cleanup(func() { c.Close() })
			if i%500 == 0 {
				for range 300 { // overflows the default buffer
					if _, err := tx.WriteTo(payload, c.LocalAddr()); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	for _, r := range []struct {
		name string
		read func(string) ([]model.UDPSocket, error)
	}{{"netns-10k/sock_diag", func(root string) ([]model.UDPSocket, error) { return ReadUDPSockets(root, nldump.OpenDumper) }}, {"netns-10k/proc", readProcUDP}} {
		b.Run(r.name, func(b *testing.B) {
			var n int
			b.ReportAllocs()
			err := netns.Do(ns.Name, func() error { // b.Run's goroutine is outside the netns
				for b.Loop() {
					socks, err := r.read("/proc")
					if err != nil {
						return err
					}
					n = len(socks)
				}
				return nil
			})
			if err != nil || n != MaxUDPSockets {
				b.Fatalf("%d sockets, %v", n, err)
			}
		})
	}
}
