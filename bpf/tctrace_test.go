package bpf

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// pointCounts is packets and bytes by queue at one point of one link.
func pointCounts(in *model.InPath, pt model.Point, link string) map[int][2]uint64 {
	out := map[int][2]uint64{}
	for _, x := range in.Points {
		if x.Point == pt && x.Link == link {
			c := out[x.Queue]
			out[x.Queue] = [2]uint64{c[0] + x.Packets, c[1] + x.Bytes}
		}
	}
	return out
}

// TestTCTraceMatchesTC: the tracepoints count what tc programs on the links count — the same
// packets and bytes per RX queue at tc ingress, per link at tc egress — on the same traffic,
// with both probe sets attached at once.
func TestTCTraceMatchesTC(t *testing.T) {
	a, b, v := pair(t, 4)
	targets := []Target{{Netns: a.Name, Links: []string{v.AName}}, {Netns: b.Name, Links: []string{v.BName}}}
	// The tracepoints first: an Attach takes clsact filters named with its own pid for a
	// crashed run's leftovers, so the reference's must come after (kernels before 6.6).
	tr := attach(t, Options{Targets: targets, InPath: true, XDPMode: XDPOff, TCMode: TCTrace})
	ref := attach(t, Options{Targets: targets, InPath: true, XDPMode: XDPOff}) // two links: tc programs
	if !slices.ContainsFunc(tr.Notes, func(n string) bool { return strings.Contains(n, "netif_receive_skb") }) {
		t.Errorf("notes %v do not say the tracepoints count the tc points", tr.Notes)
	}
	sendUDP(t, a, v.BAddr, 9, 1, 1, 64) // resolve ARP before the baseline
	time.Sleep(100 * time.Millisecond)
	r0, t0 := snap(t, ref), snap(t, tr)
	const flows, per = 16, 50
	sendUDP(t, a, v.BAddr, 9, flows, per, 100)
	time.Sleep(200 * time.Millisecond)
	dr, dt := diff(t, r0, snap(t, ref)), diff(t, t0, snap(t, tr))
	for _, c := range []struct {
		pt   model.Point
		link string
	}{{model.PointTCIngress, v.BName}, {model.PointTCEgress, v.AName}} {
		want, got := pointCounts(dr, c.pt, c.link), pointCounts(dt, c.pt, c.link)
		t.Logf("%s %s: tc programs %v, tracepoints %v", c.link, c.pt, want, got)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%s %s: tracepoints counted %v (queue: packets, bytes), tc programs %v", c.link, c.pt, got, want)
		}
		var n uint64
		for _, x := range got {
			n += x[0]
		}
		if n != flows*per {
			t.Errorf("%s %s: %d packets, sent %d", c.link, c.pt, n, flows*per)
		}
	}
	if dr.MapErrors != 0 || dt.MapErrors != 0 {
		t.Errorf("map errors: %d, %d", dr.MapErrors, dt.MapErrors)
	}
}

// TestTCTraceStackedLink: a macvlan on a veth. netif_receive_skb fires for the veth alone
// (the kernel reaches the macvlan by going round __netif_receive_skb_core again), so in
// tracepoint mode the macvlan's ingress gets a tc program: both links count every frame,
// once (the macvlan's broadcasts, which reach it through the backlog and so the tracepoint
// too, included).
func TestTCTraceStackedLink(t *testing.T) {
	a, b, v := pair(t, 1)
	h := b.Handle(t)
	parent, err := h.LinkByName(v.BName)
	if err != nil {
		t.Fatal(err)
	}
	mv := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "mv0", ParentIndex: parent.Attrs().Index}, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if err := h.LinkAdd(mv); err != nil {
		t.Skipf("add macvlan: %v (the kernel has no macvlan)", err)
	}
	addAddr := func(h *netlink.Handle, name, addr string) {
		l, err := h.LinkByName(name)
		if err == nil {
			var ip *netlink.Addr
			if ip, err = netlink.ParseAddr(addr); err == nil {
				err = h.AddrAdd(l, ip)
			}
		}
		if err == nil {
			err = h.LinkSetUp(l)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", name, addr, err)
		}
	}
	// Only mv0 may answer ARP for its address (by default the veth under it answers too, and
	// then the traffic is addressed to the veth)
	lab.SetSysctl(t, b, "net.ipv4.conf.all.arp_ignore", "1")
	addAddr(h, "mv0", "198.19.210.2/24")
	addAddr(a.Handle(t), v.AName, "198.19.210.1/24")
	p := attach(t, Options{Targets: []Target{{Netns: a.Name, Links: []string{v.AName}}, {Netns: b.Name, Links: []string{v.BName, "mv0"}}},
		InPath: true, XDPMode: XDPOff, TCMode: TCTrace})
	sendUDP(t, a, "198.19.210.2", 9, 1, 1, 64)
	time.Sleep(100 * time.Millisecond)
	s0 := snap(t, p)
	const sent = 200
	sendUDP(t, a, "198.19.210.2", 9, 4, sent/4, 64)
	time.Sleep(200 * time.Millisecond)
	d := diff(t, s0, snap(t, p))
	for _, c := range []struct {
		pt   model.Point
		link string
	}{{model.PointTCIngress, v.BName}, {model.PointTCIngress, "mv0"}, {model.PointTCEgress, v.AName}} {
		if n := total(perQueue(d, c.pt, c.link)); n != sent {
			t.Errorf("%s %s: %d packets, sent %d", c.link, c.pt, n, sent)
		}
	}
}
