package live

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nettune/nettune/knob"
)

// FuzzCompare: comparing a value read from the host with another is an order: a value equals
// itself, and a < b exactly when b > a, for integer vectors and CPU sets alike.
func FuzzCompare(f *testing.F) {
	for _, g := range []string{"../../testdata/host/proc/sys/net/*/*", "../../testdata/host/sys/class/net/*/queues/rx-*/*",
		"../../testdata/host/proc/irq/*/smp_affinity_list"} {
		paths, err := filepath.Glob(g)
		if err != nil || len(paths) == 0 {
			f.Fatalf("%s: no fixture (%v)", g, err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b), "4096 131072 6291456")
		}
	}
	f.Add("00000001,00000000", "1,0")
	f.Add("0-2", "0,1,2")
	f.Fuzz(func(t *testing.T, a, b string) {
		cmps := map[string]func(a, b string) Order{
			"ints":     compareInts,
			"cpu mask": func(a, b string) Order { return compareSets(knob.CPUMask, a, b) },
			"cpu list": func(a, b string) Order { return compareSets(knob.CPUList, a, b) },
		}
		mirror := map[Order]Order{Less: Greater, Greater: Less, Equal: Equal, Unordered: Unordered}
		for name, cmp := range cmps {
			if o := cmp(a, a); o != Equal {
				t.Fatalf("%s: %q vs itself: %s", name, a, o)
			}
			ab, ba := cmp(a, b), cmp(b, a)
			if mirror[ab] != ba {
				t.Fatalf("%s: %q vs %q is %s, reversed %s", name, a, b, ab, ba)
			}
		}
	})
}
