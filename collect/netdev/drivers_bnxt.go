package netdev

import "github.com/nettune/nettune/model"

// bnxt_en (bnxt_ethtool.c, docs/drivers.md §11). Per-ring names are "[%d]: <f>" where %d is the
// completion ring, not the TX queue: see bnxtTxQueues. The *_total_* ring sums and the
// per-CoS rx_discard_packets_cos%d (a split of rx_stat_discard by class) are left out;
// tpa, pause, pfc, l4 csum, missed_irqs and FEC-corrected counters are INFO. Unlike other
// drivers' allocation failures, rx_total_oom_discards drops the packet (the old buffer is
// reused), so it counts drops.
func init() {
	drivers["bnxt_en"] = &driverTable{
		device: map[string]meaning{
			"rx_good_frames":              rxMACPk,
			"tx_good_frames":              txMACPk,
			"rx_stat_discard":             portBuf,
			"rx_filter_miss":              rxPolicy,
			"rx_total_oom_discards":       rxRing,
			"rx_total_netpoll_discards":   rxRing,
			"rx_fcs_err_frames":           rxPhy,
			"rx_align_err_frames":         rxPhy,
			"rx_ovrsz_frames":             rxPhy,
			"rx_jbr_frames":               rxPhy,
			"rx_mtu_err_frames":           rxPhy,
			"rx_undrsz_frames":            rxPhy,
			"rx_runt_frames":              rxPhy,
			"rx_pcs_symbol_err":           rxPhyEv,
			"rx_fec_uncorrectable_blocks": rxPhyEv,
			"link_down_events":            rxPhyEv,
			"tx_stat_discard":             txDrop,
			"tx_stat_error":               txDrop,
			"tx_fifo_underruns":           txDrop,
			"tx_total_resets":             txReset,
		},
		queue: map[string]meaning{
			"[%d]: rx_ucast_packets": rxQueuePk,
			"[%d]: rx_mcast_packets": rxQueuePk,
			"[%d]: rx_bcast_packets": rxQueuePk,
			"[%d]: rx_discards":      rxRing,
			"[%d]: rx_errors":        rxRing,
			"[%d]: rx_buf_errors":    rxReset,
			"[%d]: rx_resets":        rxReset,
			"[%d]: tx_ucast_packets": txQueuePk,
			"[%d]: tx_mcast_packets": txQueuePk,
			"[%d]: tx_bcast_packets": txQueuePk,
			"[%d]: tx_discards":      txDrop,
			"[%d]: tx_errors":        txDrop,
		},
		adjust: bnxtTxQueues,
	}
}

// bnxtTxQueues turns completion-ring numbers of TX counters into TX queue numbers. With
// combined channels ring i carries RX and TX queue i; with separate channels the TX rings
// follow the RX rings, so TX queue j is ring tx_base+j, tx_base being the first ring that
// has TX strings.
func bnxtTxQueues(_ []string, cs []model.Counter) {
	base := -1
	for _, c := range cs {
		if c.Dir == model.Tx && c.Queue >= 0 && (base < 0 || c.Queue < base) {
			base = c.Queue
		}
	}
	for i := range cs {
		if cs[i].Dir == model.Tx && cs[i].Queue >= 0 {
			cs[i].Queue -= base
		}
	}
}
