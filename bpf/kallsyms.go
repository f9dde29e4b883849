package bpf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Symbols names kernel text addresses — drop locations — from <root>/kallsyms. A listing
// has some 120 000 text symbols and the drops of a run come from a few dozen places, so the
// listing is not kept: it is read again, streaming, when addresses not named yet come up,
// and the names found are kept. The whole table kept cost 31 MB of allocation (243 000
// allocations) and several MB for the run; naming 40 new addresses allocates 0.14 MB
// (BenchmarkSymbols), for one more read of the listing (about 23 ms of kernel time here).
type Symbols struct {
	path  string
	named map[uint64]string
}

// NewSymbols reads root/kallsyms (root is normally /proc) when Resolve needs it.
func NewSymbols(root string) *Symbols {
	return &Symbols{path: filepath.Join(root, "kallsyms"), named: map[uint64]string{}}
}

// Resolve names the addresses not named yet, reading the listing (twice: see
// nearestSymbols).
func (s *Symbols) Resolve(addrs []uint64) error {
	var pending []uint64
	for _, a := range addrs {
		if _, ok := s.named[a]; !ok {
			pending = append(pending, a)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	slices.Sort(pending)
	pending = slices.Compact(pending)
	names, err := nearestSymbols(func() (io.ReadCloser, error) { return os.Open(s.path) }, pending)
	if err != nil {
		return err
	}
	for i, a := range pending {
		s.named[a] = names[i]
	}
	return nil
}

// Lookup renders addr as function+0xoffset, or as 0xaddr when no symbol precedes it or
// Resolve was not given it.
func (s *Symbols) Lookup(addr uint64) string {
	if n, ok := s.named[addr]; ok {
		return n
	}
	return fmt.Sprintf("%#x", addr)
}

// nearestSymbols names each of the sorted addresses after the text symbol at or below it
// in a kallsyms listing ("addr type name [module]"), as function+0xoffset, or 0xaddr when
// none is. Of symbols at one address the last listed names it. Addresses that read as zero
// (kptr_restrict hides them from non-root) name nothing. The listing is read twice, the
// nearest addresses first and then their names, so that no line costs an allocation.
func nearestSymbols(open func() (io.ReadCloser, error), addrs []uint64) ([]string, error) {
	best := make([]uint64, len(addrs)) // 0: none (symbols at 0 are skipped)
	err := scanText(open, func(sym uint64, _ []byte) {
		i, _ := slices.BinarySearch(addrs, sym)
		for ; i < len(addrs); i++ {
			best[i] = max(best[i], sym)
		}
	})
	if err != nil {
		return nil, err
	}
	names := map[uint64]string{}
	for _, b := range best {
		if b != 0 {
			names[b] = ""
		}
	}
	if len(names) > 0 {
		err = scanText(open, func(sym uint64, name []byte) {
			if _, ok := names[sym]; ok {
				names[sym] = string(name)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		if best[i] != 0 {
			out[i] = fmt.Sprintf("%s+%#x", names[best[i]], a-best[i])
		} else {
			out[i] = fmt.Sprintf("%#x", a)
		}
	}
	return out, nil
}

// scanText calls fn with each text symbol of a nonzero address, in listing order.
func scanText(open func() (io.ReadCloser, error), fn func(addr uint64, name []byte)) error {
	r, err := open()
	if err != nil {
		return fmt.Errorf("open kallsyms: %w", err)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		addrField, rest := nextField(sc.Bytes())
		typ, rest := nextField(rest)
		name, _ := nextField(rest)
		if len(name) == 0 || len(typ) != 1 || typ[0] != 't' && typ[0] != 'T' {
			continue
		}
		addr, ok := parseHex(addrField)
		if !ok {
			_, err := strconv.ParseUint(string(addrField), 16, 64) // says why
			return fmt.Errorf("kallsyms address %q: %w", addrField, err)
		}
		if addr != 0 {
			fn(addr, name)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read kallsyms: %w", err)
	}
	return nil
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
