package live

import (
	"strconv"
	"strings"

	"github.com/nettune/nettune/knob"
)

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

// compareSets says only whether two CPU sets are the same: moving work between CPUs is
// neither more nor less.
func compareSets(u knob.Unit, a, b string) Order {
	x, okx := knob.CPUSet(u, a)
	y, oky := knob.CPUSet(u, b)
	if !okx || !oky {
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
