package knob

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

var (
	// ErrNotTuned is returned for a knob of the table that nettune never writes (advice only,
	// or read as evidence).
	ErrNotTuned = errors.New("nettune does not change this knob")
	// ErrValue is returned for a value the knob cannot hold.
	ErrValue = errors.New("invalid knob value")
)

// maxCPUs bounds CPU masks and lists (the kernel's largest NR_CPUS is 8192).
const maxCPUs = 8192

// Validate says whether nettune may write value to knob id: the table must have the knob as
// one nettune tunes, and the value must have the knob's format (field count, CPU mask or
// list) with every field in the knob's range. Values read back from a journal go through it
// before they are written.
func Validate(id ID, value string) error {
	r, ok := Lookup(id)
	switch {
	case !ok:
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	case r.Use != Tune:
		return fmt.Errorf("%w: %s", ErrNotTuned, id)
	}
	bad := func(why string) error { return fmt.Errorf("%w: %s %q: %s", ErrValue, id, value, why) }
	switch r.Unit {
	case CPUMask, CPUList:
		if _, ok := CPUSet(r.Unit, value); !ok || strings.TrimSpace(value) == "" {
			return bad("not a " + string(r.Unit))
		}
		return nil
	}
	fields := strings.Fields(value)
	if len(fields) != r.Fields {
		return bad(fmt.Sprintf("want %d field(s)", r.Fields))
	}
	for _, f := range fields {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != f { // "+5", "007": nettune never writes those
			return bad("not an integer")
		}
		if n < r.Min || n > r.Max {
			return bad(fmt.Sprintf("outside %d..%d", r.Min, r.Max))
		}
	}
	return nil
}

// CPUSet reads a CPU mask ("00000001,00000003": 32-bit hex words, highest first) or CPU list ("0-3,8") as the set of its CPUs;
// ok is false when s is malformed or u is neither.
func CPUSet(u Unit, s string) (set *big.Int, ok bool) {
	s = strings.TrimSpace(s)
	switch u {
	case CPUMask:
		return parseMask(s)
	case CPUList:
		return parseCPUList(s)
	}
	return nil, false
}

func parseMask(s string) (*big.Int, bool) {
	if s == "" {
		return new(big.Int), true
	}
	groups := strings.Split(s, ",")
	if len(groups) > maxCPUs/32 {
		return nil, false
	}
	var hex strings.Builder
	for _, g := range groups {
		if g == "" || len(g) > 8 || strings.Trim(g, "0123456789abcdefABCDEF") != "" {
			return nil, false
		}
		// Each group is one 32-bit word: "1,0" is CPU 32.
		hex.WriteString(strings.Repeat("0", 8-len(g)) + g)
	}
	return new(big.Int).SetString(hex.String(), 16)
}

func parseCPUList(s string) (*big.Int, bool) {
	set := new(big.Int)
	if s == "" {
		return set, true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a >= maxCPUs {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a || b >= maxCPUs {
				return nil, false
			}
		}
		for c := a; c <= b; c++ {
			set.SetBit(set, int(c), 1)
		}
	}
	return set, true
}
