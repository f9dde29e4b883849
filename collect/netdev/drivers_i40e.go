package netdev

import (
	"slices"

	"github.com/nettune/nettune/model"
)

// i40e (i40e_ethtool.c, docs/drivers.md §6). Per-queue names are rx-%u.packets since ~4.18 and
// rx-%u.rx_packets before. Hardware counters are offset-relative: the 32-bit ones
// (i40e_stat_update32) wrap at 2^32. port.rx_discards was port.rx_dropped before 6.7.
// rx_crc_errors/rx_length_errors repeat the port.* values and port.tx_errors is the
// port-wide tx_errors: left out. port.illegal_bytes counts bytes; pause, fdir, lpi and
// rx_cache_* counters are INFO.
func init() {
	drivers["i40e"] = &driverTable{
		device: map[string]meaning{
			"rx_missed_errors":          w32(rxRing), // 6.7+: GLV_RDPC
			"rx_dropped":                rxRing,      // see adjust
			"port.rx_discards":          w32(portBuf),
			"port.rx_dropped":           w32(portBuf),
			"veb.rx_discards":           w32(rxPolicy),
			"veb.tx_discards":           w32(txPolicy),
			"rx_unknown_protocol":       w32(rxPolicy),
			"rx_alloc_fail":             alloc,
			"rx_pg_alloc_fail":          alloc,
			"port.rx_crc_errors":        w32(rxPhy),
			"port.rx_length_errors":     w32(rxPhy),
			"port.rx_undersize":         w32(rxPhy),
			"port.rx_fragments":         w32(rxPhy),
			"port.rx_oversize":          w32(rxPhy),
			"port.rx_jabber":            w32(rxPhy),
			"port.mac_local_faults":     w32(rxPhyEv),
			"port.mac_remote_faults":    w32(rxPhyEv),
			"tx_busy":                   txRing,
			"tx_stopped":                txRing,
			"tx_restart":                txRing,
			"tx_dropped":                txDrop,
			"tx_errors":                 w32(txDrop),
			"port.tx_dropped_link_down": w32(txDrop),
			"port.tx_timeout":           txReset,
		},
		queue: map[string]meaning{
			"rx-%d.packets":    rxQueuePk,
			"tx-%d.packets":    txQueuePk,
			"rx-%d.rx_packets": rxQueuePk,
			"tx-%d.tx_packets": txQueuePk,
		},
		adjust: i40eRxDropped,
	}
}

// i40eRxDropped: before 6.7 (no rx_missed_errors string) rx_dropped carried the 32-bit
// GLV_RDPC; from 6.7 it is GL_RXERR1, read with a 64-bit offset.
func i40eRxDropped(names []string, cs []model.Counter) {
	if slices.Contains(names, "rx_missed_errors") {
		return
	}
	if c := counter(cs, "rx_dropped"); c != nil {
		c.Wrap32 = true
	}
}
