package netdev

// ena (ena_ethtool.c, docs/drivers.md §10). Per-queue names are queue_%u_rx_* / queue_%u_tx_*;
// XDP TX queues follow the regular ones as queue_%u_xdp_tx_*. The ENI *_allowance_exceeded
// counters are the cloud's shaping (packets queued or dropped), pps/conntrack ones for
// both directions, counted here as rx. Device drops arrive only in rtnl rx/tx_dropped.
// Descriptor errors and watchdog counters count resets, not packets.
func init() {
	drivers["ena"] = &driverTable{
		device: map[string]meaning{
			"bw_in_allowance_exceeded":     rxPolicy,
			"bw_out_allowance_exceeded":    txPolicy,
			"pps_allowance_exceeded":       rxPolicy,
			"conntrack_allowance_exceeded": rxPolicy,
			"linklocal_allowance_exceeded": txPolicy,
			"tx_timeout":                   txReset,
			"wd_expired":                   txReset,
		},
		queue: map[string]meaning{
			"queue_%d_rx_cnt":              rxQueuePk,
			"queue_%d_rx_xdp_drop":         rxXDP,
			"queue_%d_rx_xdp_aborted":      rxXDP,
			"queue_%d_rx_xdp_invalid":      rxXDP,
			"queue_%d_rx_page_alloc_fail":  alloc,
			"queue_%d_rx_skb_alloc_fail":   alloc,
			"queue_%d_rx_dma_mapping_err":  alloc,
			"queue_%d_rx_refil_partial":    alloc,
			"queue_%d_rx_bad_desc_num":     rxReset,
			"queue_%d_rx_bad_req_id":       rxReset,
			"queue_%d_tx_cnt":              txQueuePk,
			"queue_%d_tx_queue_stop":       txRing,
			"queue_%d_tx_dma_mapping_err":  txDrop,
			"queue_%d_tx_linearize_failed": txDrop,
			"queue_%d_tx_prepare_ctx_err":  txDrop,
			"queue_%d_tx_bad_req_id":       txReset,
			"queue_%d_tx_missed_tx":        txReset,
		},
	}
}
