package bpf

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// FuzzSymbols: every text symbol's address, and the address after it, are named as a
// plain reading of the listing names them: the greatest symbol at or below, the last
// listed of several at one address.
func FuzzSymbols(f *testing.F) {
	b, err := os.ReadFile("testdata/kallsyms")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		type sym struct {
			addr uint64
			name string
		}
		var syms []sym
		for _, line := range strings.Split(s, "\n") {
			f := strings.FieldsFunc(line, kallsymsSpace)
			if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
				continue
			}
			if a, err := strconv.ParseUint(f[0], 16, 64); err == nil && a != 0 && len(f[0]) <= 16 {
				syms = append(syms, sym{a, f[2]})
			}
		}
		var addrs []uint64
		for _, x := range syms {
			addrs = append(addrs, x.addr, x.addr+1)
		}
		slices.Sort(addrs)
		addrs = slices.Compact(addrs)
		got, err := nearestSymbols(listing(s), addrs)
		if err != nil {
			return
		}
		for i, a := range addrs {
			var best *sym
			for j := range syms {
				if x := &syms[j]; x.addr <= a && (best == nil || x.addr >= best.addr) {
					best = x
				}
			}
			want := fmt.Sprintf("%#x", a)
			if best != nil {
				want = fmt.Sprintf("%s+%#x", best.name, a-best.addr)
			}
			if got[i] != want {
				t.Fatalf("%#x named %q, want %q", a, got[i], want)
			}
		}
	})
}

func FuzzDropReasons(f *testing.F) {
	b, err := os.ReadFile("testdata/skb_drop_reason-6.18.btf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := btf.LoadSpecFromReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		names, err := dropReasons(spec)
		if err != nil {
			return
		}
		var enum *btf.Enum
		if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
			t.Fatal(err)
		}
		if len(names) > len(enum.Values) {
			t.Fatalf("%d names from %d values", len(names), len(enum.Values))
		}
		first := map[uint32]string{}
		for _, v := range enum.Values {
			n := strings.TrimPrefix(v.Name, reasonPrefix)
			if _, ok := first[uint32(v.Value)]; !ok && n != "MAX" && n != "SUBSYS_MASK" {
				first[uint32(v.Value)] = n
			}
		}
		for v, n := range names {
			if n == "MAX" || n == "SUBSYS_MASK" || first[v] != n {
				t.Fatalf("value %d named %q, enum says %q", v, n, first[v])
			}
		}
	})
}

// The captured enum gives 6.18's numbering: values differ between kernels, names do not.
func TestDropReasonsCaptured(t *testing.T) {
	b, err := os.ReadFile("testdata/skb_drop_reason-6.18.btf")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	names, err := dropReasons(spec)
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[uint32]string{0: "SKB_NOT_DROPPED_YET", 1: "SKB_CONSUMED", 2: "NOT_SPECIFIED",
		3: "NO_SOCKET", 6: "SOCKET_RCVBUFF", 12: "NETFILTER_DROP", 64: "QDISC_DROP", 71: "CPU_BACKLOG"} {
		if names[v] != want {
			t.Errorf("value %d: %q, want %q", v, names[v], want)
		}
	}
	if len(names) != 130 {
		t.Errorf("%d reasons, want 130", len(names))
	}
}
