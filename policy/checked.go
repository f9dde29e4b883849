package policy

import "github.com/nettune/nettune/model/stage"

// checked names the counters nettune reads for drops at p: a drop reason they do not account
// for says so (docs/rules.md §8.4).
func checked(in *input, p place) []string {
	dev := func(names ...string) []string {
		if p.iface == "" {
			return []string{"the " + string(p.stage) + " counters of every link"}
		}
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = p.iface + " " + n
		}
		return out
	}
	switch p.stage {
	case stage.NICPhy:
		return dev("rx_crc_errors, rx_frame_errors, rx_length_errors", "driver nic-phy counters")
	case stage.NICFifo:
		return dev("rx_missed_errors, rx_fifo_errors, rx_over_errors", "driver nic-fifo counters")
	case stage.RxRing:
		return dev("driver rx-ring counters")
	case stage.XDP:
		return dev("driver XDP counters", "in-path xdp and tc-ingress points")
	case stage.TCIngress:
		return dev("ingress qdisc statistics")
	case stage.Backlog, stage.FlowLimit:
		return []string{"softnet_stat dropped and flow_limit_count"}
	case stage.Netfilter:
		return []string{"nf_conntrack drop and insert_failed", "nftables rule counters"}
	case stage.IP:
		return []string{"Ip.InHdrErrors, InAddrErrors, InUnknownProtos", "IpExt.InNoRoutes, InCsumErrors", "Udp/Tcp/Icmp.InCsumErrors", "TcpExt.IPReversePathFilter"}
	case stage.IPReassembly:
		return []string{"Ip.ReasmFails", "Ip6.ReasmFails"}
	case stage.SocketLookup:
		if p.sub == "tcp" {
			return []string{"no TCP counter counts segments for a closed port (Tcp.OutRsts counts the resets sent)"}
		}
		return []string{"Udp.NoPorts", "Udp6.NoPorts"}
	case stage.UDPRcvbuf:
		return []string{"Udp.RcvbufErrors", "Udp6.RcvbufErrors"}
	case stage.UDPMem:
		return []string{"Udp.MemErrors", "Udp6.MemErrors", "sampled UDP sockets' drops while sockstat's UDP pool is at udp_mem"}
	case stage.TCPRcvbuf:
		return []string{"TcpExt.TCPRcvQDrop, OfoPruned, TCPOFODrop, TCPZeroWindowDrop"}
	case stage.TCPBacklog:
		return []string{"TcpExt.TCPBacklogDrop"}
	case stage.TCPAcceptQueue:
		return []string{"TcpExt.ListenOverflows, ListenDrops, TCPReqQFullDrop"}
	case stage.UDPSndbuf:
		return []string{"Udp.SndbufErrors", "Udp6.SndbufErrors"}
	case stage.IPOut:
		return []string{"Ip.OutNoRoutes"}
	case stage.Neigh:
		return []string{"arp_cache and ndisc_cache table_fulls and unresolved_discards"}
	case stage.TCEgress:
		return dev("in-path tc-egress point")
	case stage.Qdisc:
		return dev("qdisc statistics")
	case stage.TxRing:
		return dev("driver tx-ring counters")
	case stage.NICTx:
		return dev("tx_fifo_errors, tx_carrier_errors, tx_aborted_errors, tx_dropped", "driver nic-tx counters")
	}
	return nil
}
