package netdev

// ixgbe (ixgbe_ethtool.c ixgbe_gstrings_stats[], docs/drivers.md §5). rx_no_dma_resources counts
// only with SRRCTL.DROP_EN; otherwise ring exhaustion backs up into rx_missed_errors.
// rx_errors (= crc + rlec) is a total and left out; rx_no_buffer_count, fdir_*, pause and
// os2bmc counters are INFO. rx_dropped/tx_dropped here are core-accounted drops only.
func init() {
	drivers["ixgbe"] = &driverTable{
		device: map[string]meaning{
			"rx_pkts_nic":            rxMACPk,
			"tx_pkts_nic":            txMACPk,
			"rx_missed_errors":       portBuf,
			"rx_no_dma_resources":    rxRing,
			"rx_dropped":             rxRing,
			"rx_fcoe_dropped":        rxRing,
			"alloc_rx_page_failed":   alloc,
			"alloc_rx_buff_failed":   alloc,
			"rx_crc_errors":          rxPhy,
			"rx_length_errors":       rxPhy,
			"rx_long_length_errors":  rxPhy,
			"rx_short_length_errors": rxPhy,
			"tx_busy":                txRing,
			"tx_restart_queue":       txRing,
			"tx_dropped":             txDrop,
			"tx_timeout_count":       txReset,
		},
		queue: map[string]meaning{
			"rx_queue_%d_packets": rxQueuePk,
			"tx_queue_%d_packets": txQueuePk,
		},
	}
}
