package kstat

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

func TestReadNeighTablesFixture(t *testing.T) {
	got, err := ReadNeighTables("testdata/neigh-6.18/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []model.NeighTable{
		{Name: "arp_cache", Entries: 0xa, Counters: map[string]uint64{
			"allocs": 0x4ca + 0x4b8, "destroys": 0x4fc + 0x47c, "hash_grows": 1, "lookups": 0x1b60 + 0x1a32, "hits": 0x1d,
			"res_failed": 2, "rcv_probes_mcast": 0, "rcv_probes_ucast": 0, "periodic_gc_runs": 0x1f4, "forced_gc_runs": 0,
			"unresolved_discards": 0, "table_fulls": 0}},
		{Name: "ndisc_cache", Entries: 0xf, Counters: map[string]uint64{
			"allocs": 0x1c7d4 + 0x1b126, "destroys": 0x1a426 + 0x1d4c5, "hash_grows": 8, "lookups": 4, "hits": 3,
			"res_failed": 2, "rcv_probes_mcast": 1, "rcv_probes_ucast": 1, "periodic_gc_runs": 0x1f4, "forced_gc_runs": 0x116 * 2,
			"unresolved_discards": 0, "table_fulls": 0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A child namespace has neither file.
	if got, err := ReadNeighTables("testdata/sockstat-6.18/proc"); got != nil || err != nil {
		t.Errorf("no stat files: %+v, %v", got, err)
	}
}

func TestParseNeighStat(t *testing.T) {
	head := "entries  allocs table_fulls later\n"
	entries, c, err := ParseNeighStat(strings.NewReader(head + "00000400 00000010 00000002 1\n00000401 100000000 00000003 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	// entries is a gauge repeated per CPU: the first row's; counters are 64-bit per CPU.
	want := map[string]uint64{"allocs": 0x10 + 1<<32, "table_fulls": 5, "later": 2}
	if entries != 0x400 || !reflect.DeepEqual(c, want) {
		t.Errorf("entries %#x, counters %v", entries, c)
	}
	for _, bad := range []string{"", "allocs entries\n1 2\n", head, head + "1 2 3\n", head + "1 2 3 x\n"} {
		if _, _, err := ParseNeighStat(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseNeighStat(f *testing.F) {
	f.Add("entries  allocs   destroys table_fulls\n0000000a 000004ca 000004fc 00000000\n0000000a 000004b8 0000047c 00000001\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, c, err := ParseNeighStat(strings.NewReader(s))
		if err == nil && c == nil {
			t.Fatal("nil counters without an error")
		}
	})
}

// neighReplay answers RTM_GETNEIGH dumps from the captures of testdata/neigh-6.18.
func neighReplay(t *testing.T) *replay {
	return &replay{t: t, request: func(typ uint16, body []byte) string {
		if typ != unix.RTM_GETNEIGH || len(body) != ndmsgLen {
			return fmt.Sprintf("type %d, %d bytes", typ, len(body))
		}
		return fmt.Sprint("neigh", body[0])
	}, files: map[string]string{
		fmt.Sprint("neigh", unix.AF_INET):  "testdata/neigh-6.18/rtm-getneigh4.bin",
		fmt.Sprint("neigh", unix.AF_INET6): "testdata/neigh-6.18/rtm-getneigh6.bin",
	}}
}

func TestCountNeighboursFixture(t *testing.T) {
	// A veth end with a reachable peer, a failed and an incomplete address and a permanent
	// entry; the NOARP entries (multicast, loopback) that `ip neigh` hides are counted too.
	r := neighReplay(t)
	for fam, want := range map[uint8]model.NeighCount{
		unix.AF_INET:  {Total: 5, Permanent: 1, Unresolved: 2},
		unix.AF_INET6: {Total: 9, Unresolved: 1},
	} {
		got, err := CountNeighbours(r, fam)
		if err != nil || got != want {
			t.Errorf("family %d: %+v, %v; want %+v", fam, got, err, want)
		}
	}
	if _, err := CountNeighbours(r, unix.AF_UNSPEC); err == nil {
		t.Error("failed dump: no error")
	}
}

func FuzzCountNeighbours(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 2, 0, 0, 0, 0x80, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = CountNeighbours(oneAnswer(b), unix.AF_INET)
	})
}

// oneAnswer is a dump that answers with b alone.
type oneAnswer []byte

func (b oneAnswer) Dump(_ uint16, _ []byte, fn func([]byte) error) (bool, error) { return false, fn(b) }
func (oneAnswer) Close() error                                                   { return nil }
