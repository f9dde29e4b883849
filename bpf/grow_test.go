package bpf

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// countsOn sums one point's packets on one link of one namespace.
func countsOn(in *model.InPath, ns uint64, link string, pt model.Point) (uint64, bool) {
	var n uint64
	found := false
	for _, x := range in.Points {
		if x.Netns == ns && x.Link == link && x.Point == pt {
			n += x.Packets
			found = true
		}
	}
	return n, found
}

// TestAddRemoveTargets: namespaces added after Attach are counted from then on, also when
// their veth has the ifindex a watched link's shortcut names (the shortcut moves to the
// hash path, so neither link counts the other's packets); removing one releases its
// bpf_link descriptors, and a namespace added later reuses its slots with counts from zero.
// With tc programs on each link, and with the tracepoints (no descriptor per link).
func TestAddRemoveTargets(t *testing.T) {
	for _, mode := range []string{TCAuto, TCTrace} {
		t.Run(mode, func(t *testing.T) { testAddRemoveTargets(t, mode) })
	}
}

func testAddRemoveTargets(t *testing.T, mode string) {
	a, _, v1 := pair(t, 1)
	inoA, err := netnsInode(a.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := attach(t, Options{Targets: []Target{{Netns: a.Name}}, InPath: true, XDPMode: XDPOff, TCMode: mode})
	base := lab.BPFLinkFDs(t)
	perLink := 2 * tcHookLinks()
	if mode == TCTrace {
		perLink = 0
	}

	add := func(tag string) (c, d *lab.NS, v *lab.Veth, inoD uint64) {
		c, d, v = pair(t, 1)
		got, err := p.AddTargets([]Target{{Netns: d.Name}, {Netns: a.Name}})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: add targets: %v %v, want one new namespace", tag, got, err)
		}
		t.Logf("%s: ifindex A %d, D %d", tag, ifindexIn(t, a, v1.AName), ifindexIn(t, d, v.BName))
		return c, d, v, got[0]
	}
	_, d, v2, inoD := add("first")
	if n := lab.BPFLinkFDs(t); n != base+perLink {
		t.Errorf("bpf_link descriptors after adding one veth end: %d, want %d", n, base+perLink)
	}
	const sent = 40
	check := func(tag string, inoD uint64, v *lab.Veth, from *lab.NS) {
		t.Helper()
		sendUDP(t, a, v1.BAddr, 9, 1, 1, 64)
		sendUDP(t, from, v.BAddr, 9, 1, 1, 64)
		time.Sleep(50 * time.Millisecond)
		s0 := snap(t, p)
		sendUDP(t, a, v1.BAddr, 9, 2, sent/2, 64)
		sendUDP(t, from, v.BAddr, 9, 2, sent/4, 64)
		time.Sleep(100 * time.Millisecond)
		in := diff(t, s0, snap(t, p))
		if n, _ := countsOn(in, inoA, v1.AName, model.PointTCEgress); n != sent {
			t.Errorf("%s: A tc egress %d, want %d", tag, n, sent)
		}
		if n, ok := countsOn(in, inoD, v.BName, model.PointTCIngress); !ok || n != sent/2 {
			t.Errorf("%s: D tc ingress %d (reported %v), want %d", tag, n, ok, sent/2)
		}
		if in.MapErrors != 0 {
			t.Errorf("%s: map errors %d", tag, in.MapErrors)
		}
		if c := in.Coverage; c == nil || c.Asked != 2 || c.Watched != 2 {
			t.Errorf("%s: coverage %+v, want 2 of 2", tag, c)
		}
	}
	check("first", inoD, v2, v2.A)

	// The pod goes away: its veth (both ends) with it.
	d.Do(t, func() error {
		l, err := netlink.LinkByName(v2.BName)
		if err != nil {
			return err
		}
		return netlink.LinkDel(l)
	})
	if err := p.RemoveTargets([]uint64{inoD}); err != nil {
		t.Errorf("remove: %v", err)
	}
	if n := lab.BPFLinkFDs(t); n != base {
		t.Errorf("bpf_link descriptors after removing the namespace: %d, want %d", n, base)
	}
	in := snap(t, p).InPath
	for _, x := range in.Points {
		if x.Netns == inoD {
			t.Errorf("removed namespace still reported: %+v", x)
		}
	}

	_, _, v3, inoF := add("reused")
	s := snap(t, p).InPath
	for _, pt := range []model.Point{model.PointTCIngress, model.PointTCEgress, model.PointXmit} {
		if n, ok := countsOn(s, inoF, v3.BName, pt); !ok || n > 2 {
			t.Errorf("reused slot: %s starts at %d (reported %v), want about 0", pt, n, ok)
		}
	}
	check("reused", inoF, v3, v3.A)
}

// linkRefs lists a namespace's links as a dump there names them.
func linkRefs(t *testing.T, ns *lab.NS) []LinkRef {
	t.Helper()
	ls, err := ns.Handle(t).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []LinkRef
	for _, l := range ls {
		out = append(out, LinkRef{Index: l.Attrs().Index, Name: l.Attrs().Name})
	}
	return out
}

// TestSyncLinks: a watched namespace gains a veth pair (a new pod's host-side end) and
// loses it again; SyncLinks attaches the new ends and, once they are deleted, closes their
// bpf_link descriptors.
func TestSyncLinks(t *testing.T) {
	a, _, v1 := pair(t, 1)
	inoA, err := netnsInode(a.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := attach(t, Options{Targets: []Target{{Netns: a.Name}}, InPath: true, XDPMode: XDPOff})
	base := lab.BPFLinkFDs(t)
	if err := p.SyncLinks(inoA, linkRefs(t, a)); err != nil || lab.BPFLinkFDs(t) != base {
		t.Fatalf("sync without a change: %v, %d bpf_link descriptors, want %d", err, lab.BPFLinkFDs(t), base)
	}
	names := lab.ManyVeths(t, a, 1, true)
	if err := p.SyncLinks(inoA, linkRefs(t, a)); err != nil {
		t.Fatal(err)
	}
	if n := lab.BPFLinkFDs(t); n != base+4*tcHookLinks() {
		t.Errorf("after a new veth pair: %d bpf_link descriptors, want %d", n, base+4*tcHookLinks())
	}
	if c := snap(t, p).InPath.Coverage; c == nil || c.Asked != 3 || c.Watched != 3 {
		t.Errorf("coverage %+v, want 3 of 3", c)
	}
	a.Do(t, func() error {
		l, err := netlink.LinkByName(names[0])
		if err != nil {
			return err
		}
		return netlink.LinkDel(l)
	})
	if err := p.SyncLinks(inoA, linkRefs(t, a)); err != nil {
		t.Fatal(err)
	}
	if n := lab.BPFLinkFDs(t); n != base {
		t.Errorf("after the pair is deleted: %d bpf_link descriptors, want %d", n, base)
	}
	in := snap(t, p).InPath
	if c := in.Coverage; c == nil || c.Asked != 1 || c.Watched != 1 {
		t.Errorf("coverage %+v, want 1 of 1", c)
	}
	if n, ok := countsOn(in, inoA, v1.AName, model.PointXmit); !ok {
		t.Errorf("%s no longer reported (%d)", v1.AName, n)
	}
}

// tcHookLinks is the bpf_links one tc hook of one link adds: one with tcx; none before 6.6,
// where the programs are clsact filters.
func tcHookLinks() int {
	if CheckFeatures().TCX.OK {
		return 1
	}
	return 0
}
