package knob

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maskText prints a CPU set as sysfs prints rps_cpus: 32-bit hex words, highest first.
func maskText(set *big.Int) string {
	var words []string
	for w := max((set.BitLen()+31)/32, 1) - 1; w >= 0; w-- {
		words = append(words, fmt.Sprintf("%08x", new(big.Int).Rsh(set, uint(32*w)).Uint64()&0xffffffff))
	}
	return strings.Join(words, ",")
}

// listText prints a CPU set as smp_affinity_list does: ascending ranges.
func listText(set *big.Int) string {
	var parts []string
	for c := 0; c < set.BitLen(); c++ {
		if set.Bit(c) == 0 {
			continue
		}
		end := c
		for end+1 < set.BitLen() && set.Bit(end+1) == 1 {
			end++
		}
		if end == c {
			parts = append(parts, fmt.Sprint(c))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c, end))
		}
		c = end
	}
	return strings.Join(parts, ",")
}

// FuzzCPUSet: every mask or list CPUSet accepts is a set of at most maxCPUs CPUs that prints
// in either form and reads back the same.
func FuzzCPUSet(f *testing.F) {
	for _, g := range []string{"../collect/kstat/testdata/*/sys/class/net/*/queues/rx-*/rps_cpus",
		"../collect/kstat/testdata/*/proc/irq/*/smp_affinity_list", "../testdata/host/sys/class/net/*/queues/rx-*/rps_cpus",
		"../testdata/host/proc/irq/*/smp_affinity_list"} {
		paths, err := filepath.Glob(g)
		if err != nil || len(paths) == 0 {
			f.Fatalf("%s: no fixture (%v)", g, err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(strings.HasSuffix(p, "_list"), string(b))
		}
	}
	f.Add(false, "ffffffff,00000000,0000000f")
	f.Add(true, "0-3,8,10-8191")
	f.Fuzz(func(t *testing.T, list bool, s string) {
		u := CPUMask
		if list {
			u = CPUList
		}
		set, ok := CPUSet(u, s)
		if !ok {
			return
		}
		if set.Sign() < 0 || set.BitLen() > maxCPUs {
			t.Fatalf("%s %q: set of %d bits", u, s, set.BitLen())
		}
		for _, back := range []struct {
			u    Unit
			text string
		}{{CPUMask, maskText(set)}, {CPUList, listText(set)}} {
			got, ok := CPUSet(back.u, back.text)
			if !ok || got.Cmp(set) != 0 {
				t.Fatalf("%s %q printed as %s %q reads %v, %v", u, s, back.u, back.text, got, ok)
			}
		}
	})
}
