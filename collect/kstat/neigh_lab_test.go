package kstat

import (
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
)

// hostNeigh reads the host's neighbour tables by name.
func hostNeigh(t *testing.T) map[string]model.NeighTable {
	t.Helper()
	var tables []model.NeighTable
	if err := netns.Do("", func() (err error) { tables, err = ReadNeighTables("/proc"); return err }); err != nil {
		t.Fatal(err)
	}
	m := map[string]model.NeighTable{}
	for _, nt := range tables {
		m[nt.Name] = nt
	}
	return m
}

// TestSeesNeighbourOverflow: with gc_thresh3 held just above the ARP table's size, a burst
// from A to a thousand addresses nobody answers fills the table. The host's stat file counts
// the refusals and the overflowing queues; A's own entries are the unresolved ones.
func TestSeesNeighbourOverflow(t *testing.T) {
	lab.RequireRoot(t)
	thresh := func() string {
		s, err := ReadSysctls("/proc", []string{"net.ipv4.neigh.default.gc_thresh3"})
		if err != nil {
			t.Fatal(err)
		}
		return s["net.ipv4.neigh.default.gc_thresh3"]
	}
	was := thresh()
	before := hostNeigh(t)["arp_cache"]
	v, r := inject(t, lab.InjectNeighOverflow)
	after := hostNeigh(t)["arp_cache"]
	if now := thresh(); now != was {
		t.Errorf("gc_thresh3 %s after the injector, was %s", now, was)
	}
	a := in(t, v.A, nil)
	var own *model.NeighCount
	for _, nt := range a.Neigh {
		if nt.Name == "arp_cache" {
			own = nt.NetnsEntries
		}
	}
	d := func(k string) uint64 { return after.Counters[k] - before.Counters[k] }
	t.Logf("%d datagrams; A's entries %+v; host entries %d → %d, table_fulls +%d, unresolved_discards +%d, forced_gc_runs +%d",
		r.Sent, own, before.Entries, after.Entries, d("table_fulls"), d("unresolved_discards"), d("forced_gc_runs"))
	if own == nil || own.Unresolved < lab.NeighHeadroom/2 {
		t.Errorf("A's ARP entries %+v: want the unresolved ones", own)
	}
	for _, k := range []string{"table_fulls", "unresolved_discards", "forced_gc_runs"} {
		if d(k) == 0 {
			t.Errorf("arp_cache %s did not move", k)
		}
	}
}
