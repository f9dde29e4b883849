package live

import (
	"math/big"
	"strconv"
	"strings"
)

// normalize folds the kernel's tab-separated multi-value output into single spaces.
func normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

// compareInts orders whitespace-separated integer vectors field by field (tcp_rmem has three):
// Greater only when no field went down. Non-numeric values are Equal or Unordered.
func compareInts(a, b string) Order {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != len(fb) {
		return Unordered
	}
	less, greater := false, false
	for i := range fa {
		x, err1 := strconv.ParseInt(fa[i], 10, 64)
		y, err2 := strconv.ParseInt(fb[i], 10, 64)
		if err1 != nil || err2 != nil {
			if fa[i] != fb[i] {
				return Unordered
			}
			continue
		}
		less = less || x < y
		greater = greater || x > y
	}
	switch {
	case less && greater:
		return Unordered
	case less:
		return Less
	case greater:
		return Greater
	}
	return Equal
}

// parseMask reads a sysfs CPU mask ("00000000,00000003"); nil when malformed.
func parseMask(s string) *big.Int {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return new(big.Int)
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return nil
	}
	return n
}

// parseCPUList reads a CPU list ("0-3,8"); nil when malformed.
func parseCPUList(s string) *big.Int {
	set := new(big.Int)
	s = strings.TrimSpace(s)
	if s == "" {
		return set
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil
			}
		}
		for c := a; c <= b; c++ {
			set.SetBit(set, int(c), 1)
		}
	}
	return set
}

// compareSets says only whether two CPU sets are the same: moving work between CPUs is
// neither more nor less.
func compareSets(parse func(string) *big.Int, a, b string) Order {
	x, y := parse(a), parse(b)
	if x == nil || y == nil {
		if a == b {
			return Equal
		}
		return Unordered
	}
	if x.Cmp(y) == 0 {
		return Equal
	}
	return Unordered
}

func parseUint32(v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	return uint32(n), err
}
