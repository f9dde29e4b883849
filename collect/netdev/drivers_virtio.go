package netdev

// virtio_net (drivers/net/virtio_net.c, docs/drivers.md §4). Since 6.10 per-queue names are
// rx%u_* / tx%u_* and packets moved to netdev qstats (only the device's rx%u_hw_packets
// remain); up to 6.9 they were rx_queue_%u_* / tx_queue_%u_*. The rx_* / tx_* totals of
// 6.10+ sum the queues and are left out. rx%u_drops includes XDP error-path drops.
// Device drops (rx-hw-drops) exist only in qstats; rx%u_hw_ratelimit_bytes counts bytes.
func init() {
	drivers["virtio_net"] = &driverTable{
		queue: map[string]meaning{
			// 6.10+
			"rx%d_drops":        rxRing,
			"rx%d_xdp_drops":    rxXDP,
			"rx%d_hw_packets":   rxQueuePk,
			"tx%d_xdp_tx_drops": txXDP,
			"tx%d_tx_timeouts":  txReset,
			"tx%d_hw_packets":   txQueuePk,
			// up to 6.9
			"rx_queue_%d_packets":      rxQueuePk,
			"rx_queue_%d_drops":        rxRing,
			"rx_queue_%d_xdp_drops":    rxXDP,
			"tx_queue_%d_packets":      txQueuePk,
			"tx_queue_%d_xdp_tx_drops": txXDP,
			"tx_queue_%d_tx_timeouts":  txReset,
		},
	}
}
