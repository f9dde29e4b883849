package kstat

import (
	"net"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
)

// TestNetnsView shows that ReadSNMP and ReadSysctls called on a thread inside a namespace
// read that namespace: UDP to a closed loopback port in the netns raises the netns's
// Udp.NoPorts and not the root namespace's, and global-only sysctls are absent there.
func TestNetnsView(t *testing.T) {
	lab.RequireRoot(t)
	ns := lab.NewNS(t, "kst")
	const n = 200

	read := func(name string) map[string]uint64 {
		t.Helper()
		var m map[string]uint64
		if err := netns.Do(name, func() (err error) { m, err = ReadSNMP("/proc"); return err }); err != nil {
			t.Fatalf("snmp in %q: %v", name, err)
		}
		return m
	}
	rootBefore, nsBefore := read(""), read(ns.Name)

	ns.Do(t, func() error {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer c.Close()
		closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		dst := closed.LocalAddr()
		closed.Close() // nothing listens on dst from here on
		for range n {
			if _, err := c.WriteTo([]byte("x"), dst); err != nil {
				return err
			}
		}
		return nil
	})

	rootAfter, nsAfter := read(""), read(ns.Name)
	if d := nsAfter["Udp.NoPorts"] - nsBefore["Udp.NoPorts"]; d < n {
		t.Errorf("netns Udp.NoPorts rose by %d, want ≥ %d", d, n)
	}
	if d := rootAfter["Udp.NoPorts"] - rootBefore["Udp.NoPorts"]; d >= n {
		t.Errorf("root Udp.NoPorts rose by %d: the netns's datagrams were counted there", d)
	}

	var inNS, inRoot map[string]string
	err := netns.Do(ns.Name, func() (err error) { inNS, err = ReadSysctls("/proc", DefaultSysctls); return err })
	if err != nil {
		t.Fatal(err)
	}
	if inRoot, err = ReadSysctls("/proc", DefaultSysctls); err != nil {
		t.Fatal(err)
	}
	if _, ok := inNS["net.core.netdev_max_backlog"]; ok {
		t.Error("net.core.netdev_max_backlog present in a child netns")
	}
	if _, ok := inRoot["net.core.netdev_max_backlog"]; !ok {
		t.Error("net.core.netdev_max_backlog missing in the root netns")
	}
	if inNS["net.core.somaxconn"] == "" {
		t.Error("per-netns net.core.somaxconn missing in the child netns")
	}
}
