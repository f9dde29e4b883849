package netdev

// ice (ice_ethtool.c, docs/drivers.md §7). The same word means two stages: rx_dropped is the
// VSI's ring drops (GLV_RDPC), rx_dropped.nic the port packet buffer (PRTRPB_RDPC).
// tx_errors.nic is the port-wide view of tx_errors and left out; illegal_bytes.nic counts
// bytes. Counters accumulate over resets since 6.2, so none is marked as wrapping.
func init() {
	drivers["ice"] = &driverTable{
		device: map[string]meaning{
			"rx_dropped":               rxRing,
			"rx_dropped.nic":           portBuf,
			"rx_alloc_fail":            alloc,
			"rx_pg_alloc_fail":         alloc,
			"rx_unknown_protocol":      rxPolicy,
			"rx_crc_errors.nic":        rxPhy,
			"rx_undersize.nic":         rxPhy,
			"rx_fragments.nic":         rxPhy,
			"rx_oversize.nic":          rxPhy,
			"rx_jabber.nic":            rxPhy,
			"rx_eipe_error.nic":        rxPhy,
			"rx_csum_bad.nic":          rxPhy,
			"mac_local_faults.nic":     rxPhyEv,
			"mac_remote_faults.nic":    rxPhyEv,
			"tx_busy":                  txRing,
			"tx_restart":               txRing,
			"tx_errors":                txDrop,
			"tx_dropped_link_down.nic": txDrop,
			"tx_timeout.nic":           txReset,
		},
		queue: map[string]meaning{
			"rx_queue_%d_packets": rxQueuePk,
			"tx_queue_%d_packets": txQueuePk,
		},
	}
}
