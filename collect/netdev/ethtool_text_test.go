package netdev

import (
	"strings"
	"testing"
)

func TestParseEthtoolS(t *testing.T) {
	in := "NIC statistics:\n" +
		"     rx_queue_0_drops: 17\n" +
		"     [3]: rx_discards: 42\n" +
		"\n" +
		"     port.rx_discards: 18446744073709551615\n"
	got, err := ParseEthtoolS(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"rx_queue_0_drops": 17, "[3]: rx_discards": 42,
		"port.rx_discards": 1<<64 - 1}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %d, want %d", k, got[k], v)
		}
	}
}

func TestParseEthtoolSErrors(t *testing.T) {
	for _, in := range []string{
		"NIC statistics:\n     rx_drops: many\n",
		"NIC statistics:\n     rx_drops 5\n",
		"     : 5\n",
		"     rx_drops: -1\n",
	} {
		if _, err := ParseEthtoolS(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// The fixture copied from this machine's eth0 parses to the names virtio_net 6.18 prints.
func TestParseEthtoolSEth0(t *testing.T) {
	stats := loadFixture(t, "virtio_net-eth0.txt")
	for _, n := range []string{"rx_drops", "rx0_drops", "rx0_xdp_drops", "tx0_tx_timeouts", "tx_kicks"} {
		if _, ok := stats[n]; !ok {
			t.Errorf("no %q", n)
		}
	}
}
