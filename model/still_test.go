package model

import (
	"maps"
	"testing"
	"time"
)

// A sample's SNMP map handed to the next sample unchanged diffs as the same counters with a
// copy of it would: every counter zero, gauges left out; namespaces with the same counters
// share the zeros, others get their own keys.
func TestDiffStillSNMP(t *testing.T) {
	t0 := time.Unix(1000, 0)
	snmp := map[string]uint64{"Udp.InErrors": 7, "Tcp.RetransSegs": 9, "Tcp.CurrEstab": 3}
	if !SNMPNotCounter("Tcp.CurrEstab") {
		t.Fatal("the test needs a gauge: Tcp.CurrEstab is not one")
	}
	diff := func(a, b map[string]uint64) map[string]uint64 {
		t.Helper()
		d, err := Diff(&Sample{Time: t0, SNMP: a}, &Sample{Time: t0.Add(time.Second), SNMP: b})
		if err != nil {
			t.Fatal(err)
		}
		return d.SNMP
	}
	still := diff(snmp, snmp)
	if want := diff(snmp, maps.Clone(snmp)); !maps.Equal(still, want) {
		t.Fatalf("still counters: delta %v, want %v", still, want)
	}
	other := maps.Clone(snmp)
	if again := diff(other, other); !sameMap(again, still) {
		t.Errorf("a namespace with the same counters got a new map of zeros")
	}
	more := map[string]uint64{"Udp.InErrors": 1, "Udp.RcvbufErrors": 2}
	if got, want := diff(more, more), (map[string]uint64{"Udp.InErrors": 0, "Udp.RcvbufErrors": 0}); !maps.Equal(got, want) {
		t.Errorf("other counters: delta %v, want %v", got, want)
	}
	if got := diff(snmp, map[string]uint64{"Udp.InErrors": 10, "Tcp.RetransSegs": 9}); got["Udp.InErrors"] != 3 {
		t.Errorf("moved counters: delta %v, want Udp.InErrors 3", got)
	}
}

// A namespace that stands still for several intervals keeps the zeros of its first still
// interval without its keys being checked again, whatever other namespaces diffed between.
func TestDiffStillSNMPRemembered(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := map[string]uint64{"Udp.InErrors": 7, "Tcp.RetransSegs": 9}
	b := map[string]uint64{"Udp.InErrors": 1}
	at := func(i int, m map[string]uint64) *Sample {
		return &Sample{Time: t0.Add(time.Duration(i) * time.Second), SNMP: m}
	}
	a1, a2, a3 := at(0, a), at(1, a), at(2, a)
	diff := func(p, c *Sample) map[string]uint64 {
		t.Helper()
		d, err := Diff(p, c)
		if err != nil {
			t.Fatal(err)
		}
		return d.SNMP
	}
	first := diff(a1, a2)
	other := diff(at(0, b), at(1, b)) // the last zeros made now have other keys
	if sameMap(first, other) {
		t.Fatal("namespaces with other counters share one map of zeros")
	}
	if next := diff(a2, a3); !sameMap(next, first) {
		t.Errorf("the next still interval got new zeros %v, want the last ones %v", next, first)
	}
}
