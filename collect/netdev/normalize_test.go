package netdev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

func loadFixture(t *testing.T, file string) map[string]uint64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "ethtool", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats, err := ParseEthtoolS(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return stats
}

// want is the expected normalization of one name; value is checked against the fixture.
type want struct {
	name   string
	stage  stage.Stage
	kind   model.Kind
	dir    model.Dir
	queue  int
	wrap32 bool
}

// policyCounters are the STEER and POLICER counters: drops a configured decision made, at
// the device stage of their direction (docs/drivers.md §2.1).
var policyCounters = map[string]bool{"veb.rx_discards": true, "rx_unknown_protocol": true, "rx_steer_missed_packets": true,
	"rx_if_down_packets": true, "bw_in_allowance_exceeded": true, "pps_allowance_exceeded": true, "rx_filter_miss": true}

var (
	drops   = model.KindDrops
	events  = model.KindEvents
	packets = model.KindPackets
	rx, tx  = model.Rx, model.Tx
)

func TestNormalizeFixtures(t *testing.T) {
	tests := []struct {
		file, driver string
		want         []want
		absent       []string // INFO counters and totals of listed counters
		count        int      // normalized counters expected in the fixture
	}{
		{file: "veth.txt", driver: "veth", count: 4*4 + 4,
			want: []want{
				{"rx_queue_2_drops", stage.RxRing, drops, rx, 2, false},
				{"rx_queue_1_xdp_drops", stage.XDP, drops, rx, 1, false},
				{"rx_queue_3_xdp_tx_errors", stage.XDP, drops, rx, 3, false},
				{"rx_queue_0_xdp_packets", stage.RxRing, packets, rx, 0, false},
				{"tx_queue_1_xdp_xmit_errors", stage.XDP, drops, tx, 1, false},
			},
			absent: []string{"peer_ifindex", "rx_queue_0_xdp_bytes", "rx_queue_0_xdp_redirect",
				"rx_queue_0_xdp_tx", "tx_queue_1_xdp_xmit", "rx_pp_alloc_fast"}},
		{file: "virtio_net.txt", driver: "virtio_net", count: 2 * 6,
			want: []want{
				{"rx0_drops", stage.RxRing, drops, rx, 0, false},
				{"rx1_drops", stage.RxRing, drops, rx, 1, false},
				{"rx1_xdp_drops", stage.XDP, drops, rx, 1, false},
				{"rx0_hw_packets", stage.RxRing, packets, rx, 0, false},
				{"tx1_xdp_tx_drops", stage.XDP, drops, tx, 1, false},
				{"tx0_tx_timeouts", stage.NICTx, events, tx, 0, false},
				{"tx1_hw_packets", stage.TxRing, packets, tx, 1, false},
			},
			absent: []string{"rx_drops", "rx_xdp_drops", "rx_hw_packets", "tx_tx_timeouts",
				"rx0_kicks", "rx0_hw_ratelimit_bytes", "cq_hw_ok_num", "rx0_xdp_packets"}},
		{file: "virtio_net-6.9.txt", driver: "virtio_net", count: 3 * 6,
			want: []want{
				{"rx_queue_0_packets", stage.RxRing, packets, rx, 0, false},
				{"rx_queue_1_drops", stage.RxRing, drops, rx, 1, false},
				{"rx_queue_2_xdp_drops", stage.XDP, drops, rx, 2, false},
				{"tx_queue_1_packets", stage.TxRing, packets, tx, 1, false},
				{"tx_queue_2_xdp_tx_drops", stage.XDP, drops, tx, 2, false},
				{"tx_queue_0_tx_timeouts", stage.NICTx, events, tx, 0, false},
			},
			absent: []string{"rx_queue_0_bytes", "rx_queue_0_kicks", "tx_queue_0_xdp_tx"}},
		{file: "virtio_net-eth0.txt", driver: "virtio_net", count: 4,
			want: []want{
				{"rx0_drops", stage.RxRing, drops, rx, 0, false},
				{"rx0_xdp_drops", stage.XDP, drops, rx, 0, false},
				{"tx0_xdp_tx_drops", stage.XDP, drops, tx, 0, false},
				{"tx0_tx_timeouts", stage.NICTx, events, tx, 0, false},
			},
			absent: []string{"rx_drops", "rx_kicks", "tx_tx_timeouts"}},
		{file: "ixgbe.txt", driver: "ixgbe", count: 15 + 8, // no FCoE
			want: []want{
				{"rx_missed_errors", stage.NICFifo, drops, rx, -1, false},
				{"rx_no_dma_resources", stage.RxRing, drops, rx, -1, false},
				{"alloc_rx_buff_failed", stage.RxRing, events, rx, -1, false},
				{"rx_crc_errors", stage.NICPhy, drops, rx, -1, false},
				{"tx_restart_queue", stage.TxRing, events, tx, -1, false},
				{"tx_busy", stage.TxRing, events, tx, -1, false},
				{"rx_pkts_nic", stage.NICPhy, packets, rx, -1, false},
				{"rx_queue_3_packets", stage.RxRing, packets, rx, 3, false},
				{"tx_queue_2_packets", stage.TxRing, packets, tx, 2, false},
			},
			absent: []string{"rx_no_buffer_count", "rx_errors", "rx_packets", "fdir_overflow",
				"rx_flow_control_xoff", "rx_pb_0_pxoff", "rx_queue_0_bytes", "alloc_rx_page"}},
		{file: "i40e.txt", driver: "i40e", count: 23 + 6, // no port.rx_dropped (pre-6.7 name)
			want: []want{
				{"rx_missed_errors", stage.RxRing, drops, rx, -1, true},
				{"rx_dropped", stage.RxRing, drops, rx, -1, false},
				{"port.rx_discards", stage.NICFifo, drops, rx, -1, true},
				{"veb.rx_discards", stage.NICFifo, drops, rx, -1, true},
				{"rx_unknown_protocol", stage.NICFifo, drops, rx, -1, true},
				{"rx_alloc_fail", stage.RxRing, events, rx, -1, false},
				{"tx_stopped", stage.TxRing, events, tx, -1, false},
				{"port.tx_dropped_link_down", stage.NICTx, drops, tx, -1, true},
				{"port.rx_crc_errors", stage.NICPhy, drops, rx, -1, true},
				{"rx-2.packets", stage.RxRing, packets, rx, 2, false},
				{"tx-1.packets", stage.TxRing, packets, tx, 1, false},
			},
			absent: []string{"rx_crc_errors", "port.illegal_bytes", "port.link_xoff_rx",
				"port.tx_errors", "rx-0.bytes", "rx_cache_reuse", "port.rx_size_64",
				"port.rx_priority_0_xoff_rx", "veb.tc_0_rx_packets"}},
		{file: "i40e-old.txt", driver: "i40e", count: 20 + 4,
			want: []want{
				{"rx_dropped", stage.RxRing, drops, rx, -1, true}, // GLV_RDPC before 6.7
				{"port.rx_dropped", stage.NICFifo, drops, rx, -1, true},
				{"rx-1.rx_packets", stage.RxRing, packets, rx, 1, false},
				{"tx-1.tx_packets", stage.TxRing, packets, tx, 1, false},
			},
			absent: []string{"rx-0.rx_bytes", "port.illegal_bytes"}},
		{file: "ice.txt", driver: "ice", count: 19 + 8,
			want: []want{
				{"rx_dropped", stage.RxRing, drops, rx, -1, false},
				{"rx_dropped.nic", stage.NICFifo, drops, rx, -1, false},
				{"rx_alloc_fail", stage.RxRing, events, rx, -1, false},
				{"rx_unknown_protocol", stage.NICFifo, drops, rx, -1, false},
				{"rx_crc_errors.nic", stage.NICPhy, drops, rx, -1, false},
				{"tx_restart", stage.TxRing, events, tx, -1, false},
				{"tx_errors", stage.NICTx, drops, tx, -1, false},
				{"rx_queue_1_packets", stage.RxRing, packets, rx, 1, false},
				{"tx_queue_3_packets", stage.TxRing, packets, tx, 3, false},
			},
			absent: []string{"tx_errors.nic", "illegal_bytes.nic", "link_xoff_rx.nic",
				"rx_priority_0_xoff.nic", "rx_size_64.nic", "rx_queue_0_bytes"}},
		{file: "igb.txt", driver: "igb", count: 12 + 4*3 + 4*2,
			want: []want{
				{"rx_missed_errors", stage.NICFifo, drops, rx, -1, false},
				{"rx_queue_2_drops", stage.RxRing, drops, rx, 2, false},
				{"rx_queue_0_alloc_failed", stage.RxRing, events, rx, 0, false},
				{"tx_queue_3_restart", stage.TxRing, events, tx, 3, false},
				{"rx_packets", stage.NICPhy, packets, rx, -1, false},
				{"rx_queue_2_packets", stage.RxRing, packets, rx, 2, false},
				{"tx_queue_1_packets", stage.TxRing, packets, tx, 1, false},
				{"rx_crc_errors", stage.NICPhy, drops, rx, -1, false},
			},
			absent: []string{"rx_no_buffer_count", "rx_fifo_errors", "rx_errors",
				"rx_queue_1_csum_err", "dropped_smbus", "tx_window_errors", "rx_flow_control_xoff"}},
		{file: "mlx5_core.txt", driver: "mlx5_core", count: 22 + 2*8 + 2*7, // no XSK
			want: []want{
				{"rx_out_of_buffer", stage.RxRing, drops, rx, -1, true},
				{"rx_discards_phy", stage.NICFifo, drops, rx, -1, false},
				{"outbound_pci_buffer_overflow", stage.NICFifo, drops, rx, -1, false},
				{"rx_steer_missed_packets", stage.NICFifo, drops, rx, -1, false},
				{"rx_if_down_packets", stage.NICFifo, drops, rx, -1, true},
				{"rx1_buff_alloc_err", stage.RxRing, events, rx, 1, false},
				{"rx0_xdp_drop", stage.XDP, drops, rx, 0, false},
				{"rx1_xdp_tx_full", stage.XDP, drops, rx, 1, false},
				{"tx1_stopped", stage.TxRing, events, tx, 1, false},
				{"tx0_dropped", stage.NICTx, drops, tx, 0, false},
				{"rx1_packets", stage.RxRing, packets, rx, 1, false},
				{"tx0_packets", stage.TxRing, packets, tx, 0, false},
				{"rx_packets_phy", stage.NICPhy, packets, rx, -1, false},
			},
			absent: []string{"rx_packets", "tx_queue_stopped", "rx_xdp_drop", "rx_buff_alloc_err",
				"rx_prio0_discards", "rx_buffer_passed_thres_phy", "rx_err_lane_1_phy",
				"tx1_wake", "rx0_pp_alloc_fast", "ch0_events", "rx0_xdp_tx_xmit", "tx0_xdp_xmit"}},
		{file: "ena.txt", driver: "ena", count: 7 + 2*17, // the XDP TX queue has no normalized name
			want: []want{
				{"bw_in_allowance_exceeded", stage.NICFifo, drops, rx, -1, false},
				{"pps_allowance_exceeded", stage.NICFifo, drops, rx, -1, false},
				{"queue_1_rx_cnt", stage.RxRing, packets, rx, 1, false},
				{"queue_1_tx_cnt", stage.TxRing, packets, tx, 1, false},
				{"queue_0_rx_xdp_drop", stage.XDP, drops, rx, 0, false},
				{"queue_1_rx_page_alloc_fail", stage.RxRing, events, rx, 1, false},
				{"queue_0_tx_queue_stop", stage.TxRing, events, tx, 0, false},
				{"queue_1_tx_dma_mapping_err", stage.NICTx, drops, tx, 1, false},
				{"wd_expired", stage.NICTx, events, tx, -1, false},
			},
			absent: []string{"queue_0_rx_empty_rx_ring", "queue_0_tx_queue_wakeup",
				"queue_2_xdp_tx_cnt", "ena_admin_q_aborted_cmd", "queue_0_rx_csum_bad", "suspend"}},
		{file: "bnxt_en.txt", driver: "bnxt_en", count: 20 + 2*7 + 2*5,
			want: []want{
				{"[1]: rx_discards", stage.RxRing, drops, rx, 1, false},
				{"[1]: rx_ucast_packets", stage.RxRing, packets, rx, 1, false},
				{"[0]: rx_resets", stage.RxRing, events, rx, 0, false},
				// separate channels: TX rings 2 and 3 are TX queues 0 and 1
				{"[3]: tx_ucast_packets", stage.TxRing, packets, tx, 1, false},
				{"[2]: tx_discards", stage.NICTx, drops, tx, 0, false},
				{"rx_total_oom_discards", stage.RxRing, drops, rx, -1, false},
				{"rx_stat_discard", stage.NICFifo, drops, rx, -1, false},
				{"rx_filter_miss", stage.NICFifo, drops, rx, -1, false},
				{"rx_good_frames", stage.NICPhy, packets, rx, -1, false},
			},
			absent: []string{"rx_total_ring_discards", "tx_total_ring_discards",
				"rx_discard_packets_cos1", "rx_buffer_passed_threshold", "[0]: tpa_packets",
				"[0]: missed_irqs", "rx_pause_frames", "rx_total_buf_errors"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			stats := loadFixture(t, tt.file)
			got := Normalize(tt.driver, stats)
			byName := make(map[string]model.Counter, len(got))
			for _, c := range got {
				byName[c.Name] = c
			}
			for _, w := range tt.want {
				c, ok := byName[w.name]
				if !ok {
					t.Errorf("%s: not normalized", w.name)
					continue
				}
				if c.Stage != w.stage || c.Policy != policyCounters[w.name] || c.Kind != w.kind || c.Dir != w.dir || c.Queue != w.queue ||
					c.Wrap32 != w.wrap32 || c.Value != stats[w.name] {
					t.Errorf("%s = %+v, want %+v (value %d)", w.name, c, w, stats[w.name])
				}
			}
			for _, n := range tt.absent {
				if _, ok := stats[n]; !ok {
					t.Errorf("fixture lacks %q", n)
				}
				if _, ok := byName[n]; ok {
					t.Errorf("%s: normalized, want it left out", n)
				}
			}
			if len(got) != tt.count {
				t.Errorf("%d counters normalized, want %d", len(got), tt.count)
			}
		})
	}
}

// Every counter the tables can produce must carry a valid stage, a known kind and direction,
// and every per-queue template must have its index as the first run of digits.
func TestDriverTables(t *testing.T) {
	kinds := map[model.Kind]bool{model.KindPackets: true, model.KindDrops: true, model.KindEvents: true}
	for drv, tbl := range drivers {
		check := func(name string, m meaning) {
			if !m.stage.Valid() || !kinds[m.kind] || (m.dir != model.Rx && m.dir != model.Tx) {
				t.Errorf("%s %q: bad meaning %+v", drv, name, m)
			}
		}
		for name, m := range tbl.device {
			check(name, m)
			if tmpl, ok := templateOf(name); ok && tbl.queue[tmpl] != (meaning{}) {
				t.Errorf("%s %q: also matches queue template %q", drv, name, tmpl)
			}
		}
		for tmpl, m := range tbl.queue {
			check(tmpl, m)
			i := strings.Index(tmpl, "%d")
			if i < 0 || strings.Count(tmpl, "%d") != 1 || strings.ContainsAny(tmpl[:i], "0123456789") {
				t.Errorf("%s %q: index must be the first number in the name", drv, tmpl)
			}
		}
	}
}

// templateOf is lookup's template rule, for the table check.
func templateOf(name string) (string, bool) {
	i := strings.IndexAny(name, "0123456789")
	if i < 0 {
		return "", false
	}
	j := i
	for j < len(name) && name[j] >= '0' && name[j] <= '9' {
		j++
	}
	return name[:i] + "%d" + name[j:], true
}

func TestNormalizeUnknownDriver(t *testing.T) {
	stats := loadFixture(t, "ixgbe.txt")
	if got := Normalize("e1000e", stats); got != nil {
		t.Fatalf("unknown driver normalized %d counters", len(got))
	}
	if got := Normalize("", stats); got != nil {
		t.Fatalf("empty driver normalized %d counters", len(got))
	}
}

// A digit run that is not a queue template of the driver must not match by accident.
func TestNormalizeExactNames(t *testing.T) {
	got := Normalize("virtio_net", map[string]uint64{
		"rx0_drops":      1, // 6.10+ per queue
		"rx_drops":       2, // total
		"rx0x_drops":     3,
		"rx0_drops_x":    4,
		"xrx0_drops":     5,
		"rx00_drops":     6, // leading zero: still queue 0
		"rx_queue_drops": 7,
	})
	names := map[string]int{}
	for _, c := range got {
		names[c.Name] = c.Queue
	}
	if len(names) != 2 || names["rx0_drops"] != 0 || names["rx00_drops"] != 0 {
		t.Fatalf("got %v", names)
	}
}

func TestNormalizeSorted(t *testing.T) {
	got := Normalize("mlx5_core", loadFixture(t, "mlx5_core.txt"))
	for i := 1; i < len(got); i++ {
		if got[i-1].Name >= got[i].Name {
			t.Fatalf("not sorted at %d: %q, %q", i, got[i-1].Name, got[i].Name)
		}
	}
}

// A plan reads values by their index in the string set: "" entries and unknown names are
// skipped, a repeated name takes its last value (as ParseEthtoolS's map would), and the
// counters come sorted whatever the order of the set.
func TestPlanIndices(t *testing.T) {
	names := []string{"tx_queue_0_xdp_xmit_errors", "", "rx_queue_1_drops", "peer_ifindex",
		"rx_queue_0_drops", "rx_queue_1_drops"}
	p := planFor("veth", names)
	got := p.fill([]uint64{10, 11, 12, 13, 14, 15})
	want := []struct {
		name  string
		value uint64
	}{{"rx_queue_0_drops", 14}, {"rx_queue_1_drops", 15}, {"tx_queue_0_xdp_xmit_errors", 10}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Value != w.value {
			t.Errorf("counter %d = %s %d, want %s %d", i, got[i].Name, got[i].Value, w.name, w.value)
		}
	}
	got[0].Value = 99 // each fill is a copy: links sharing a plan do not share counters
	if again := p.fill(make([]uint64, len(names))); again[0].Value != 0 {
		t.Errorf("plan changed by a caller: %+v", again[0])
	}
	if planFor("veth", []string{"peer_ifindex"}) != nil || planFor("e1000e", names) != nil {
		t.Error("plan without any understood name")
	}
}
