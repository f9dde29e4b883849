package model

import (
	"reflect"
	"testing"
	"time"
)

// TestZeroDiffIsTheSample: the delta from Zero to a sample holds every counter of the sample
// unchanged, with no reset, over one second.
func TestZeroDiffIsTheSample(t *testing.T) {
	s := full(time.Unix(1772366400, 0), 1000)
	d, err := Diff(s.Zero(), s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Interval != time.Second || len(d.Resets) > 0 {
		t.Fatalf("interval %s, resets %v", d.Interval, d.Resets)
	}
	if !reflect.DeepEqual(d.Links, s.Links) {
		t.Errorf("links\n got %+v\nwant %+v", d.Links, s.Links)
	}
	if !reflect.DeepEqual(d.Softnet, s.Softnet) || !reflect.DeepEqual(d.NetRx, s.NetRx) ||
		!reflect.DeepEqual(d.SNMP, s.SNMP) || !reflect.DeepEqual(d.Interrupts, s.Interrupts) ||
		!reflect.DeepEqual(d.Conntrack, s.Conntrack) || !reflect.DeepEqual(d.UDPSockets, s.UDPSockets) {
		t.Errorf("host-wide counters differ:\n got %+v\nwant %+v", d, s)
	}
	if !reflect.DeepEqual(d.InPath, s.InPath) {
		t.Errorf("in-path counts\n got %+v\nwant %+v", d.InPath, s.InPath)
	}
}
