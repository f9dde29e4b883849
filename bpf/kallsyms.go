package bpf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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
// fail, which Lookup reports as a bare address. The names share one string and lines are
// split in place: a listing has some 120 000 lines, and a string and a field slice per line
// was 243 000 allocations, and each name kept its whole line alive for the run
// (BenchmarkParseKallsyms: 75 allocations now, as many bytes, as fast).
func ParseKallsyms(r io.Reader) (*Symbols, error) {
	type sym struct {
		addr       uint64
		start, end uint32
	}
	var syms []sym
	var arena []byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		addrField, rest := nextField(sc.Bytes())
		typ, rest := nextField(rest)
		name, _ := nextField(rest)
		if len(name) == 0 {
			continue
		}
		if len(typ) != 1 || typ[0] != 't' && typ[0] != 'T' {
			continue
		}
		addr, ok := parseHex(addrField)
		if !ok {
			_, err := strconv.ParseUint(string(addrField), 16, 64) // says why
			return nil, fmt.Errorf("kallsyms address %q: %w", addrField, err)
		}
		if addr == 0 {
			continue
		}
		syms = append(syms, sym{addr, uint32(len(arena)), uint32(len(arena) + len(name))})
		arena = append(arena, name...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	// The kernel lists its own text in address order; modules may come after.
	if !sort.SliceIsSorted(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr }) {
		sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	}
	names := string(arena)
	s := &Symbols{addrs: make([]uint64, len(syms)), names: make([]string, len(syms))}
	for i, x := range syms {
		s.addrs[i], s.names[i] = x.addr, names[x.start:x.end]
	}
	return s, nil
}

// nextField is the first field of b, separated by ASCII white space, and what follows it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && kallsymsSpace(rune(b[i])) {
		i++
	}
	j := i
	for j < len(b) && !kallsymsSpace(rune(b[j])) {
		j++
	}
	return b[i:j], b[j:]
}

// parseHex parses a kallsyms address: at most 16 hex digits, no prefix.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// kallsymsSpace is the white space between kallsyms fields (the kernel writes spaces and
// a tab).
func kallsymsSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\v' || r == '\f' || r == '\r'
}

// Lookup renders addr as function+0xoffset, or as 0xaddr when no symbol precedes it.
func (s *Symbols) Lookup(addr uint64) string {
	i := sort.Search(len(s.addrs), func(i int) bool { return s.addrs[i] > addr }) - 1
	if i < 0 {
		return fmt.Sprintf("%#x", addr)
	}
	return fmt.Sprintf("%s+%#x", s.names[i], addr-s.addrs[i])
}
