package bpf

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// keepTable is how drop locations were named before: the whole listing parsed into a
// sorted table kept for the run (a string and a field slice per line), then a binary search.
func keepTable(b []byte) ([]uint64, []string) {
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[1] != "t" && f[1] != "T" {
			continue
		}
		if addr, err := strconv.ParseUint(f[0], 16, 64); err == nil && addr != 0 {
			syms = append(syms, sym{addr, f[2]})
		}
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	addrs, names := make([]uint64, len(syms)), make([]string, len(syms))
	for i, x := range syms {
		addrs[i], names[i] = x.addr, x.name
	}
	return addrs, names
}

// BenchmarkSymbols names 40 addresses of this host's kernel text from /proc/kallsyms
// (read once into memory, so both sides parse the same bytes; as root: addresses are zero
// otherwise): by the kept table (before) and by nearestSymbols (now, which keeps nothing).
func BenchmarkSymbols(b *testing.B) {
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil || bytes.HasPrefix(data, []byte("0000000000000000")) {
		b.Skipf("needs /proc/kallsyms with addresses (root): %v", err)
	}
	all, _ := keepTable(data)
	var addrs []uint64
	for i := range 40 {
		addrs = append(addrs, all[(i+1)*len(all)/42]+3)
	}
	b.Run("kept-table", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			as, names := keepTable(data)
			for _, a := range addrs {
				i := sort.Search(len(as), func(i int) bool { return as[i] > a }) - 1
				_ = names[i]
			}
		}
	})
	b.Run("read-twice", func(b *testing.B) {
		b.ReportAllocs()
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		for b.Loop() {
			if _, err := nearestSymbols(open, addrs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
