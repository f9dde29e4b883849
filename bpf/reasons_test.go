package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
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

// A kernel without the reason enum (< 5.17) gets the location-only programs and one name for
// all its drops; any other failure attaches nothing.
func TestChooseDropProgs(t *testing.T) {
	names := map[uint32]string{3: "NO_SOCKET"}
	progs, got, err := chooseDropProgs(names, nil)
	if err != nil || progs != reasonProgs || got[3] != "NO_SOCKET" {
		t.Errorf("with reasons: %v %v %v", progs, got, err)
	}
	progs, got, err = chooseDropProgs(nil, fmt.Errorf("find: %w", ErrNoDropReasons))
	if err != nil || progs != locationProgs || len(got) != 1 || got[noReason] != model.ReasonUnavailable {
		t.Errorf("without the enum: %v %v %v", progs, got, err)
	}
	broken := errors.New("load kernel btf: broken")
	if _, _, err := chooseDropProgs(nil, broken); !errors.Is(err, broken) {
		t.Errorf("btf error: got %v", err)
	}
}

// kernelBTF is a kernel BTF with the given types, as btf.LoadKernelSpec would return it.
func kernelBTF(t *testing.T, types ...btf.Type) *btf.Spec {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestDropFeatures(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	enum := &btf.Enum{Name: "skb_drop_reason", Size: 4, Values: []btf.EnumValue{
		{Name: "SKB_NOT_DROPPED_YET", Value: 0}, {Name: "SKB_CONSUMED", Value: 1}, {Name: "SKB_DROP_REASON_NO_SOCKET", Value: 2}}}
	for _, tc := range []struct {
		name               string
		spec               *btf.Spec
		btfErr             error
		reasons, locations bool
		count              int
	}{
		{name: "6.1+", spec: kernelBTF(t, u32, enum), reasons: true, locations: true, count: 3},
		{name: "5.10", spec: kernelBTF(t, u32), locations: true},
		{name: "no btf", btfErr: errors.New("no /sys/kernel/btf/vmlinux")},
	} {
		var f Features
		f.dropFeatures(tc.spec, tc.btfErr)
		if f.DropReasons.OK != tc.reasons || f.DropLocations.OK != tc.locations || f.DropReasonCount != tc.count {
			t.Errorf("%s: %+v", tc.name, f)
		}
		if !f.DropReasons.OK && f.DropReasons.Reason == "" || !f.DropLocations.OK && f.DropLocations.Reason == "" {
			t.Errorf("%s: a missing feature without its reason: %+v", tc.name, f)
		}
	}
}
