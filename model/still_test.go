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
