package bpf

import (
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/nettune/nettune/model"
)

// TestForeignXDP: an XDP_DROP program someone else attached stays in place; Attach skips
// its own XDP, names the foreign program, and tc ingress still counts (nothing, as the
// foreign program drops every frame before tc).
func TestForeignXDP(t *testing.T) {
	a, b, v := pair(t, 1)
	drop, err := emptyProg("foreign_drop", ebpf.XDP, ebpf.AttachXDP, "", 1) // XDP_DROP
	if err != nil {
		t.Skipf("load xdp program: %v", err)
	}
	defer drop.Close()
	var fl link.Link
	b.Do(t, func() error {
		idx, err := ifindex(v.BName)
		if err != nil {
			return err
		}
		fl, err = link.AttachXDP(link.XDPOptions{Program: drop, Interface: idx, Flags: link.XDPGenericMode})
		return err
	})
	defer fl.Close()
	info, err := drop.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()

	p := attach(t, Options{Targets: []Target{{Netns: b.Name, Links: []string{v.BName}}}, InPath: true, XDPMode: XDPGeneric})
	s0 := snap(t, p)
	sendUDP(t, a, v.BAddr, 9, 1, 50, 64)
	time.Sleep(100 * time.Millisecond)
	s1 := snap(t, p)
	in := diff(t, s0, s1)

	if s1.InPath.XDPMode != XDPOff {
		t.Errorf("xdp mode %q with a foreign program attached", s1.InPath.XDPMode)
	}
	ino, err := netnsInode(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := model.ForeignProg{Netns: ino, Link: v.BName, Hook: "xdp", ID: uint32(id), Name: "foreign_drop", Mode: "generic"}
	found := false
	for _, f := range s1.InPath.Foreign {
		found = found || f == want
	}
	if !found {
		t.Errorf("foreign = %+v, want %+v", s1.InPath.Foreign, want)
	}
	if q := perQueue(in, model.PointXDP, v.BName); len(q) != 0 {
		t.Errorf("our xdp counted %v next to a foreign program", q)
	}
	if q, ok := perQueue(in, model.PointTCIngress, v.BName)[0]; !ok || q != 0 {
		t.Errorf("tc ingress queue 0 = %d (present %v), want 0 behind XDP_DROP", q, ok)
	}
	// The link is counted, but not at the hook asked for: partial coverage, said so.
	cov := s1.InPath.Coverage
	wantGap := model.Gap{Netns: ino, Link: v.BName, Hook: "xdp", Reason: model.GapForeign,
		Detail: fmt.Sprintf("program %d %q (generic)", id, "foreign_drop")}
	if cov == nil || cov.Asked != 1 || cov.Watched != 0 || len(cov.Gaps) != 1 || cov.Gaps[0] != wantGap {
		t.Errorf("coverage %+v, want 0 of 1 watched with gap %+v", cov, wantGap)
	}
	// The foreign program is still the one attached.
	if got := xdpProgID(t, b, v.BName); got != uint32(id) {
		t.Errorf("xdp program on %s is %d, want the foreign %d", v.BName, got, id)
	}
}
