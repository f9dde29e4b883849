package bpf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Symbols maps kernel text addresses to function names, from /proc/kallsyms.
type Symbols struct {
	addrs []uint64 // sorted
	names []string
}

// ReadKallsyms reads root/kallsyms (root is normally /proc).
func ReadKallsyms(root string) (*Symbols, error) {
	f, err := os.Open(filepath.Join(root, "kallsyms"))
	if err != nil {
		return nil, fmt.Errorf("open kallsyms: %w", err)
	}
	defer f.Close()
	return ParseKallsyms(f)
}

// ParseKallsyms keeps the text symbols of a kallsyms listing ("addr type name [module]").
// Addresses that read as zero (kptr_restrict hides them from non-root) make every lookup
// fail, which Lookup reports as a bare address.
func ParseKallsyms(r io.Reader) (*Symbols, error) {
	type sym struct {
		addr uint64
		name string
	}
	var syms []sym
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		if t := f[1]; t != "t" && t != "T" {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("kallsyms address %q: %w", f[0], err)
		}
		if addr == 0 {
			continue
		}
		syms = append(syms, sym{addr, f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	s := &Symbols{addrs: make([]uint64, len(syms)), names: make([]string, len(syms))}
	for i, x := range syms {
		s.addrs[i], s.names[i] = x.addr, x.name
	}
	return s, nil
}

// Lookup renders addr as function+0xoffset, or as 0xaddr when no symbol precedes it.
func (s *Symbols) Lookup(addr uint64) string {
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > addr }) - 1
	if i < 0 {
		return fmt.Sprintf("%#x", addr)
	}
	return fmt.Sprintf("%s+%#x", s.names[i], addr-s.addrs[i])
}
