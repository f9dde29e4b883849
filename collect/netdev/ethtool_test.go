package netdev

import (
	"errors"
	"fmt"
	"testing"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// fakeEthtool returns its results in turn per operation (the last one repeats) and counts
// the calls, to play safchain/ethtool's silent empty results.
type fakeEthtool struct {
	info     []ethtool.DrvInfo
	infoErr  error
	stats    []map[string]uint64
	statsErr error
	keys     []statsKey // the string sets asked for, in turn
	ring     []ethtool.Ring
	ringErr  error
	ch       []ethtool.Channels
	chErr    error
	calls    map[string]int
}

func nth[T any](f *fakeEthtool, op string, xs []T) T {
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	i := f.calls[op]
	f.calls[op]++
	if i >= len(xs) {
		i = len(xs) - 1
	}
	return xs[i]
}

func (f *fakeEthtool) DriverInfo(string) (ethtool.DrvInfo, error) {
	if f.infoErr != nil {
		return ethtool.DrvInfo{}, f.infoErr
	}
	return nth(f, "info", f.info), nil
}

func (f *fakeEthtool) Counters(_ string, k statsKey) ([]model.Counter, error) {
	f.keys = append(f.keys, k)
	if f.statsErr != nil {
		return nil, f.statsErr
	}
	return Normalize(k.driver, nth(f, "stats", f.stats)), nil
}

func (f *fakeEthtool) GetRing(string) (ethtool.Ring, error) {
	if f.ringErr != nil {
		if f.calls == nil {
			f.calls = map[string]int{}
		}
		f.calls["ring"]++
		return ethtool.Ring{}, f.ringErr
	}
	return nth(f, "ring", f.ring), nil
}

func (f *fakeEthtool) GetChannels(string) (ethtool.Channels, error) {
	if f.chErr != nil {
		return ethtool.Channels{}, f.chErr
	}
	return nth(f, "ch", f.ch), nil
}

func (f *fakeEthtool) Forget([]model.Link) {}

func (f *fakeEthtool) Close() {}

var (
	ixgbeInfo  = ethtool.DrvInfo{Driver: "ixgbe", NStats: 2}
	ixgbeStats = map[string]uint64{"rx_missed_errors": 5, "rx_no_buffer_count": 9}
	ring4k     = ethtool.Ring{RxPending: 512, TxPending: 512, RxMaxPending: 4096, TxMaxPending: 4096}
	ch8        = ethtool.Channels{CombinedCount: 8, MaxCombined: 63}
)

// The library's silent empty ring is read again; the rest comes from ioctlEthtool, read once.
func TestReadEthtoolRetriesEmptyResults(t *testing.T) {
	f := &fakeEthtool{
		info:  []ethtool.DrvInfo{ixgbeInfo},
		stats: []map[string]uint64{ixgbeStats},
		ring:  []ethtool.Ring{{}, ring4k},
		ch:    []ethtool.Channels{ch8},
	}
	l := model.Link{Name: "eth1"}
	if err := readEthtool(f, &l, nil); err != nil {
		t.Fatal(err)
	}
	if l.Driver != "ixgbe" || l.Ring == nil || l.Ring.RxMax != 4096 ||
		l.Channels == nil || l.Channels.Combined != 8 {
		t.Fatalf("got %+v", l)
	}
	if len(l.Counters) != 1 || l.Counters[0].Name != "rx_missed_errors" {
		t.Fatalf("counters %+v", l.Counters)
	}
	for op, want := range map[string]int{"info": 1, "ring": 2, "ch": 1, "stats": 1} {
		if f.calls[op] != want {
			t.Errorf("%s called %d times, want %d", op, f.calls[op], want)
		}
	}
}

func TestReadEthtoolReportsPersistentEmptyResults(t *testing.T) {
	f := &fakeEthtool{
		info:  []ethtool.DrvInfo{ixgbeInfo},
		stats: []map[string]uint64{ixgbeStats},
		ring:  []ethtool.Ring{{RxPending: 256}},
		ch:    []ethtool.Channels{ch8},
	}
	l := model.Link{Name: "eth1"}
	err := readEthtool(f, &l, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if l.Ring != nil || l.Driver != "ixgbe" || l.Channels == nil || len(l.Counters) != 1 {
		t.Fatalf("unavailable ring filled in, or the rest left out: %+v", l)
	}
	if f.calls["ring"] != 2 {
		t.Errorf("ring read %d times, want 2", f.calls["ring"])
	}
}

// veth has no ring ops; lo has no ethtool ops at all: neither is an error.
func TestReadEthtoolUnsupported(t *testing.T) {
	f := &fakeEthtool{
		info:    []ethtool.DrvInfo{{Driver: "veth", NStats: 1}},
		stats:   []map[string]uint64{{"rx_queue_0_drops": 3}},
		ringErr: unix.EOPNOTSUPP,
		ch:      []ethtool.Channels{{RxCount: 4, TxCount: 4, MaxRx: 4, MaxTx: 4}},
	}
	l := model.Link{Name: "veth0"}
	if err := readEthtool(f, &l, nil); err != nil {
		t.Fatal(err)
	}
	if l.Ring != nil || l.Channels == nil || len(l.Counters) != 1 {
		t.Fatalf("got %+v", l)
	}

	lo := &fakeEthtool{infoErr: unix.EOPNOTSUPP, statsErr: unix.EOPNOTSUPP,
		ringErr: unix.EOPNOTSUPP, chErr: unix.EOPNOTSUPP}
	l = model.Link{Name: "lo"}
	if err := readEthtool(lo, &l, nil); err != nil {
		t.Fatal(err)
	}
	if l.Driver != "" || l.Counters != nil || l.Ring != nil || l.Channels != nil {
		t.Fatalf("got %+v", l)
	}
}

// Ring support belongs to the driver: after one veth refused, no other veth is asked.
func TestReadEthtoolRemembersDriversWithoutRings(t *testing.T) {
	f := &fakeEthtool{
		info:    []ethtool.DrvInfo{{Driver: "veth", NStats: 1}},
		stats:   []map[string]uint64{{"rx_queue_0_drops": 3}},
		ringErr: unix.EOPNOTSUPP,
		ch:      []ethtool.Channels{{RxCount: 1, TxCount: 1, MaxRx: 1, MaxTx: 1}},
	}
	noRing := map[string]bool{}
	for _, name := range []string{"veth0", "veth1", "veth2"} {
		l := model.Link{Name: name}
		if err := readEthtool(f, &l, noRing); err != nil || l.Ring != nil {
			t.Fatalf("%s: %v %+v", name, err, l.Ring)
		}
	}
	if f.calls["ring"] != 1 {
		t.Errorf("ring queried %d times, want once per driver", f.calls["ring"])
	}
}

// A driver that reports no statistics at all returns an empty set, and one without a table
// is not asked for -S (nothing of it could be normalized): neither is an error.
func TestReadEthtoolNoStats(t *testing.T) {
	for _, info := range []ethtool.DrvInfo{{Driver: "ixgbe", NStats: 0}, {Driver: "bridge", NStats: 12}} {
		f := &fakeEthtool{
			info:  []ethtool.DrvInfo{info},
			stats: []map[string]uint64{ixgbeStats},
			ring:  []ethtool.Ring{ring4k},
			ch:    []ethtool.Channels{ch8},
		}
		l := model.Link{Name: "eth1"}
		if err := readEthtool(f, &l, nil); err != nil {
			t.Fatal(err)
		}
		if l.Driver != info.Driver || l.Counters != nil || len(f.keys) != 0 {
			t.Fatalf("%s: got %+v after %d -S reads", info.Driver, l, len(f.keys))
		}
	}
}

func TestReadEthtoolErrors(t *testing.T) {
	f := &fakeEthtool{
		info:    []ethtool.DrvInfo{ixgbeInfo},
		stats:   []map[string]uint64{ixgbeStats},
		ringErr: unix.EIO,
		ch:      []ethtool.Channels{ch8},
	}
	l := model.Link{Name: "eth1"}
	err := readEthtool(f, &l, nil)
	if !errors.Is(err, unix.EIO) || l.Ring != nil || l.Channels == nil {
		t.Fatalf("err = %v, link %+v", err, l)
	}

	gone := &fakeEthtool{infoErr: unix.ENODEV}
	if err := readEthtool(gone, &model.Link{Name: "eth9"}, nil); !errors.Is(err, errGone) {
		t.Fatalf("err = %v, want errGone", err)
	}
}

// veth links with the same queue counts share one string set; any other driver's set is
// kept per link, and a veth whose queues are unknown is not shared either.
func TestStatsKeys(t *testing.T) {
	f := &fakeEthtool{
		info:    []ethtool.DrvInfo{{Driver: "veth", NStats: 24}},
		stats:   []map[string]uint64{{"peer_ifindex": 3}},
		ringErr: unix.EOPNOTSUPP,
		ch: []ethtool.Channels{
			{RxCount: 1, TxCount: 8, MaxRx: 8, MaxTx: 8},
			{RxCount: 1, TxCount: 8, MaxRx: 8, MaxTx: 8},
			{RxCount: 3, TxCount: 1, MaxRx: 8, MaxTx: 8}, // also 24 statistics
		},
	}
	for i := range 3 {
		if err := readEthtool(f, &model.Link{Name: fmt.Sprint("veth", i), Index: 10 + i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if f.keys[0] != f.keys[1] || f.keys[1] == f.keys[2] || f.keys[0].ifindex != 0 {
		t.Errorf("veth keys %+v: want the first two shared, the third apart", f.keys)
	}

	a := statsKeyOf(3, "ixgbe", 100, &model.Channels{Combined: 8})
	b := statsKeyOf(4, "ixgbe", 100, &model.Channels{Combined: 8})
	if a == b {
		t.Errorf("ixgbe links share key %+v", a)
	}
	if statsKeyOf(5, "veth", 24, nil) == statsKeyOf(6, "veth", 24, nil) {
		t.Error("veth links with unknown queues share a key")
	}
}

func TestRxQueueBound(t *testing.T) {
	for _, tc := range []struct {
		l    model.Link
		want int
	}{
		{model.Link{Driver: "veth", NumRxQ: 2, Channels: &model.Channels{Rx: 1, Tx: 1}}, 1},
		{model.Link{Driver: "veth", NumRxQ: 2}, 2}, // channels unread (5.10)
		{model.Link{Driver: "ixgbe", NumRxQ: 64, Channels: &model.Channels{Combined: 8}}, 64},
	} {
		if got := RxQueueBound(&tc.l); got != tc.want {
			t.Errorf("%s %+v: %d, want %d", tc.l.Driver, tc.l.Channels, got, tc.want)
		}
	}
}
