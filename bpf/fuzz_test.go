package bpf

import (
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

func FuzzParseKallsyms(f *testing.F) {
	b, err := os.ReadFile("testdata/kallsyms")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Fuzz(func(t *testing.T, s string) {
		syms, err := ParseKallsyms(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(syms.addrs) != len(syms.names) || len(syms.addrs) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d addresses, %d names from %d lines", len(syms.addrs), len(syms.names), strings.Count(s, "\n")+1)
		}
		if !sort.SliceIsSorted(syms.addrs, func(i, j int) bool { return syms.addrs[i] < syms.addrs[j] }) {
			t.Fatal("addresses not sorted")
		}
		// Each text symbol's address names it, or the symbol listed after it at the same address.
		last := map[uint64]string{}
		for _, line := range strings.Split(s, "\n") {
			f := strings.FieldsFunc(line, kallsymsSpace)
			if len(f) < 3 || (f[1] != "t" && f[1] != "T") {
				continue
			}
			if a, err := strconv.ParseUint(f[0], 16, 64); err == nil && a != 0 {
				last[a] = f[2]
			}
		}
		if len(last) > len(syms.addrs) {
			t.Fatalf("%d text symbols kept of %d addresses", len(syms.addrs), len(last))
		}
		for a, name := range last {
			if got := syms.Lookup(a); got != name+"+0x0" {
				t.Fatalf("Lookup(%#x) = %q, want %s+0x0", a, got, name)
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
