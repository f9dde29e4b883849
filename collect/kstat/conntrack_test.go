package kstat

import (
	"strings"
	"testing"
)

func TestReadConntrackFixtures(t *testing.T) {
	for _, tc := range []struct {
		root string
		want map[string]uint64
		cols int
	}{
		// 6.18 after 2000 one-packet UDP flows into a netns with nf_conntrack_max 64: both
		// rows print entries 0x40, which must not be summed.
		{"testdata/conntrack-6.18/proc", map[string]uint64{
			"drop": 0x785, "early_drop": 0xb, "insert_failed": 0, "clashres": 0, "chainlength": 0, "search_restart": 0,
		}, 16},
		// 4.19 layout (searched, delete_list), read through the <proc>/net fallback.
		{"testdata/conntrack-4.19/proc", map[string]uint64{
			"found": 348853, "new": 243456, "invalid": 1800, "insert_failed": 196, "drop": 145, "early_drop": 33,
			"searched": 0, "delete_list": 0x1d8f0 + 0x1cc10, "search_restart": 4,
		}, 16},
	} {
		got, err := ReadConntrack(tc.root)
		if err != nil {
			t.Fatalf("%s: %v", tc.root, err)
		}
		if len(got) != tc.cols {
			t.Errorf("%s: %d counters, want %d: %v", tc.root, len(got), tc.cols, got)
		}
		if _, ok := got["entries"]; ok {
			t.Errorf("%s: the entries gauge is kept as a counter", tc.root)
		}
		for k, v := range tc.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %d (present %v), want %d", tc.root, k, g, ok, v)
			}
		}
	}
}

func TestReadConntrackAbsent(t *testing.T) {
	m, err := ReadConntrack("testdata/vm-6.18/proc")
	if m != nil || err != nil {
		t.Fatalf("no nf_conntrack file: %v, %v; want nil, nil", m, err)
	}
}

func TestParseConntrackErrors(t *testing.T) {
	const hdr = "entries  clashres found drop\n"
	for name, in := range map[string]string{
		"empty":      "",
		"header":     "cpu  found drop\n00000001 00000002 00000003\n",
		"short row":  hdr + "00000001  00000002 00000003\n",
		"long row":   hdr + "00000001  00000002 00000003 00000004 00000005\n",
		"not hex":    hdr + "00000001  0000000g 00000003 00000004\n",
		"over 32bit": hdr + "00000001  100000000 00000003 00000004\n",
	} {
		if m, err := ParseConntrack(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parsed %v, want an error", name, m)
		}
	}
}
