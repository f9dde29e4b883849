package netdev

// mlx5_core (en_stats.c, counters.rst, docs/drivers.md §9). Per-queue names are rx%d_* (RQ) and
// tx%d_* (SQ, index = channel + tc × channels). The plain rx_* / tx_* software names
// (tx_queue_stopped, rx_xdp_drop, ...) sum the rings and are left out, as are the per-
// priority rx_prio%d_* discards, which split rx_discards_phy (their index is not a queue).
// Q-counter and vNIC-env values are 32-bit firmware reads that wrap. Vport/phy packet
// counts other than rx/tx_packets_phy, pause, ECN, page_pool, csum and ch%d_* are INFO.
func init() {
	drivers["mlx5_core"] = &driverTable{
		device: map[string]meaning{
			"rx_packets_phy":               rxMACPk,
			"tx_packets_phy":               txMACPk,
			"rx_discards_phy":              portBuf,
			"outbound_pci_buffer_overflow": portBuf, // PCIE
			"rx_out_of_buffer":             w32(rxRing),
			"dev_internal_queue_oob":       w32(rxRing),
			"rx_oversize_pkts_buffer":      w32(rxRing),
			"rx_steer_missed_packets":      rxPolicy,
			"rx_if_down_packets":           w32(rxPolicy),
			"rx_crc_errors_phy":            rxPhy,
			"rx_symbol_err_phy":            rxPhy,
			"rx_in_range_len_errors_phy":   rxPhy,
			"rx_out_of_range_len_phy":      rxPhy,
			"rx_oversize_pkts_phy":         rxPhy,
			"rx_undersize_pkts_phy":        rxPhy,
			"rx_fragments_phy":             rxPhy,
			"rx_jabbers_phy":               rxPhy,
			"rx_unsupported_op_phy":        rxPhy,
			"rx_pcs_symbol_err_phy":        rxPhyEv,
			"link_down_events_phy":         rxPhyEv,
			"tx_discards_phy":              txDrop,
			"tx_errors_phy":                txDrop,
		},
		queue: map[string]meaning{
			"rx%d_packets":               rxQueuePk,
			"rx%d_oversize_pkts_sw_drop": rxRing,
			"rx%d_wqe_err":               rxRing,
			"rx%d_recover":               rxReset,
			"rx%d_buff_alloc_err":        alloc,
			"rx%d_xdp_drop":              rxXDP,
			"rx%d_xdp_tx_full":           rxXDP,
			"rx%d_xdp_tx_err":            rxXDP,
			"tx%d_packets":               txQueuePk,
			"tx%d_stopped":               txRing,
			"tx%d_dropped":               txDrop,
			"tx%d_cqe_err":               txDrop,
			"tx%d_recover":               txReset,
			"tx%d_xdp_full":              txXDP,
			"tx%d_xdp_err":               txXDP,
			"tx%d_xsk_full":              txXDP,
			"tx%d_xsk_err":               txXDP,
		},
	}
}
