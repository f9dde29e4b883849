package netdev

// igb (igb_ethtool.c, docs/drivers.md §8). rx_packets/tx_packets are MAC counters (GPRC/GPTC).
// rx_queue_%u_drops counts only with SRRCTL.DROP_EN. rx_fifo_errors (= MPC + Σ RQDPC),
// rx_errors, rx_length_errors and rx_frame_errors are totals of listed counters and left
// out; tx_window_errors is the same register as tx_abort_late_coll. rx_no_buffer_count
// (ring empty, frame still in the FIFO), pause, smbus and csum counters are INFO.
func init() {
	drivers["igb"] = &driverTable{
		device: map[string]meaning{
			"rx_packets":             rxMACPk,
			"tx_packets":             txMACPk,
			"rx_missed_errors":       portBuf,
			"rx_crc_errors":          rxPhy,
			"rx_align_errors":        rxPhy,
			"rx_long_length_errors":  rxPhy,
			"rx_short_length_errors": rxPhy,
			"tx_aborted_errors":      txPhy,
			"tx_carrier_errors":      txPhy,
			"tx_abort_late_coll":     txPhy,
			"tx_dropped":             txDrop,
			"tx_timeout_count":       txReset,
		},
		queue: map[string]meaning{
			"rx_queue_%d_packets":      rxQueuePk,
			"rx_queue_%d_drops":        rxRing,
			"rx_queue_%d_alloc_failed": alloc,
			"tx_queue_%d_packets":      txQueuePk,
			"tx_queue_%d_restart":      txRing,
		},
	}
}
