package netdev

// veth (drivers/net/veth.c, docs/drivers.md §3). Per-queue packet counts exist only while a
// queue runs in NAPI mode (XDP attached or GRO on); TX loss is in rtnl tx_dropped, not here.
// peer_ifindex, xdp_redirect/xdp_tx/xdp_xmit and the page_pool rx_pp_* strings are INFO.
func init() {
	drivers["veth"] = &driverTable{
		queue: map[string]meaning{
			"rx_queue_%d_xdp_packets":     rxQueuePk,
			"rx_queue_%d_drops":           rxRing, // SW_RX: NAPI/XDP receive path failures
			"rx_queue_%d_xdp_drops":       rxXDP,
			"rx_queue_%d_xdp_tx_errors":   rxXDP,
			"tx_queue_%d_xdp_xmit_errors": txXDP, // redirected frames the peer's ring refused
		},
	}
}
