package bpf

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/nettune/nettune/tuner/lab"
)

func TestReasonNames(t *testing.T) {
	enum := &btf.Enum{Name: "skb_drop_reason", Values: []btf.EnumValue{
		{Name: "SKB_NOT_DROPPED_YET", Value: 0}, {Name: "SKB_CONSUMED", Value: 1},
		{Name: "SKB_DROP_REASON_NOT_SPECIFIED", Value: 2}, {Name: "SKB_DROP_REASON_NO_SOCKET", Value: 3},
		{Name: "SKB_DROP_REASON_MAX", Value: 4}, {Name: "SKB_DROP_REASON_SUBSYS_MASK", Value: 0xffff0000},
	}}
	got := reasonNames(enum)
	want := map[uint32]string{0: "SKB_NOT_DROPPED_YET", 1: "SKB_CONSUMED", 2: "NOT_SPECIFIED", 3: "NO_SOCKET"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for v, n := range want {
		if got[v] != n {
			t.Errorf("%d: got %q, want %q", v, got[v], n)
		}
	}
	if v, ok := reasonValue(got, "SKB_CONSUMED"); !ok || v != 1 {
		t.Errorf("reasonValue(SKB_CONSUMED) = %d, %v", v, ok)
	}
}

func TestDropReasonsKernel(t *testing.T) {
	lab.RequireRoot(t)
	names, err := DropReasons()
	if err != nil {
		t.Skipf("kernel drop reasons: %v", err)
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range []string{"NOT_SPECIFIED", "NO_SOCKET", "SOCKET_RCVBUFF", "QDISC_DROP", "CPU_BACKLOG"} {
		if !seen[n] {
			t.Errorf("reason %s missing from %d names", n, len(names))
		}
	}
	if seen["MAX"] || seen["SUBSYS_MASK"] {
		t.Error("bookkeeping values not skipped")
	}
}
