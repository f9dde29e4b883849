package bpf

import (
	"bufio"
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// parseKallsymsFields is how ParseKallsyms read a listing before: a string and a field
// slice per line, a string per name.
func parseKallsymsFields(b []byte) *Symbols {
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
	s := &Symbols{addrs: make([]uint64, len(syms)), names: make([]string, len(syms))}
	for i, x := range syms {
		s.addrs[i], s.names[i] = x.addr, x.name
	}
	return s
}

// BenchmarkParseKallsyms parses this host's /proc/kallsyms (read once, as root: addresses
// are zero otherwise) the way ParseKallsyms did before and does now.
func BenchmarkParseKallsyms(b *testing.B) {
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil || bytes.HasPrefix(data, []byte("0000000000000000")) {
		b.Skipf("needs /proc/kallsyms with addresses (root): %v", err)
	}
	b.Run("fields-per-line", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseKallsymsFields(data)
		}
	})
	b.Run("one-name-string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseKallsyms(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
