package kstat

import (
	"net"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// BenchmarkReadNetns runs the socket-level readers (sockstat, neighbour counts, listeners,
// connections that retransmitted or dropped) in this machine's namespace as it is, and in a
// namespace with 5 000 loopback TCP connections (10 000 sockets: every one's tcp_info and
// sk_meminfo are parsed, none kept).
func BenchmarkReadNetns(b *testing.B) {
	env := Env{ProcRoot: "/proc", Netlink: nldump.OpenDumper}
	run := func(b *testing.B, ns string) {
		b.ReportAllocs()
		err := netns.Do(ns, func() error { // b.Run's goroutine is outside the netns
			for b.Loop() {
				if errs := ReadNetns(&model.Sample{}, env); errs != nil {
					b.Fatal(errs)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("host", func(b *testing.B) { run(b, "") })
	lab.RequireRoot(b)
	ns := lab.NewNS(b, "rnb")
	var conns []net.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ns.Do(b, func() error {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		for range 5000 {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept() // the backlog is far smaller than 5 000
			if err != nil {
				return err
			}
			conns = append(conns, c, s)
		}
		return nil
	})
	b.Run("netns-10k-tcp", func(b *testing.B) { run(b, ns.Name) })
}
