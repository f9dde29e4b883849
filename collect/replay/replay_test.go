package replay_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/collect/replay"
)

// write makes a recording of samples in a temporary directory.
func write(t *testing.T, samples ...replay.Sample) string {
	dir := t.TempDir()
	for i, s := range samples {
		d := filepath.Join(dir, "sample-"+string(rune('0'+i)))
		for _, tree := range []string{"proc", "sys"} {
			if err := os.MkdirAll(filepath.Join(d, tree), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "kernel.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The recording answers what was asked when it was made, from the sample in play (string
// sets from an earlier one: the reader asks for them once), and says so when asked
// anything else.
func TestHostAnswers(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	link := replay.Dump{Proto: unix.NETLINK_ROUTE, Type: unix.RTM_GETLINK, Request: []byte{0, 0},
		Answers: [][]byte{{1}, {2}}}
	dir := write(t, replay.Sample{Time: t0, NumCPU: 2, Netlink: []replay.Dump{link},
		Ethtool: map[string]*replay.Device{"eth0": {
			StatNames: &replay.Answer[[]string]{Value: []string{"rx_missed"}},
			Stats:     &replay.Answer[[]uint64]{Value: []uint64{5}},
			Ring:      &replay.Answer[ethtool.Ring]{Err: &replay.Err{Errno: unix.EOPNOTSUPP, Text: "operation not supported"}},
		}}},
		replay.Sample{Time: t0.Add(time.Second), NumCPU: 2, Ethtool: map[string]*replay.Device{"eth0": {
			Stats: &replay.Answer[[]uint64]{Value: []uint64{9}},
		}}})
	h, err := replay.Load(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	nl, _ := h.Netlink(unix.NETLINK_ROUTE)
	var got [][]byte
	if _, err := nl.Dump(unix.RTM_GETLINK, []byte{0, 0}, func(m []byte) error { got = append(got, m); return nil }); err != nil || len(got) != 2 {
		t.Errorf("link dump: %v, %v", got, err)
	}
	if _, err := nl.Dump(unix.RTM_GETQDISC, []byte{0, 0}, func([]byte) error { return nil }); err == nil {
		t.Error("a dump never recorded was answered")
	}
	e, _ := h.Ethtool()
	if _, err := e.Ring("eth0"); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("ring: err = %v, want the recorded EOPNOTSUPP", err)
	}
	if v, err := e.Stats("eth0", 1); err != nil || !slices.Equal(v, []uint64{5}) {
		t.Errorf("sample 0 stats %v, %v", v, err)
	}
	if _, err := e.Stats("eth0", 2); !errors.Is(err, netdev.ErrUnavailable) {
		t.Errorf("stats of another count: err = %v, want ErrUnavailable", err)
	}
	if _, err := e.DriverInfo("eth0"); err == nil {
		t.Error("driver info never recorded was answered")
	}

	if err := h.Next(); err != nil {
		t.Fatal(err)
	}
	if !h.Now().Equal(t0.Add(time.Second)) || h.NumCPU() != 2 {
		t.Errorf("second sample: %v, %d CPUs", h.Now(), h.NumCPU())
	}
	if names, err := e.StatNames("eth0", 1); err != nil || names[0] != "rx_missed" {
		t.Errorf("string set from the first sample: %v, %v", names, err)
	}
	if v, err := e.Stats("eth0", 1); err != nil || v[0] != 9 {
		t.Errorf("sample 1 stats %v, %v", v, err)
	}
	if _, err := nl.Dump(unix.RTM_GETLINK, []byte{0, 0}, func([]byte) error { return nil }); err == nil {
		t.Error("a dump of the first sample answered in the second")
	}
	if err := h.Next(); err == nil {
		t.Error("moved past the last sample")
	}
}
