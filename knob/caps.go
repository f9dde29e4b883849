package knob

import "math"

// Caps are the highest values nettune will ever propose or write (the config's `caps`).
type Caps struct {
	NetdevMaxBacklog  int64   `mapstructure:"netdev_max_backlog" json:"netdev_max_backlog"`
	NetdevBudget      int64   `mapstructure:"netdev_budget" json:"netdev_budget"`
	NetdevBudgetUsecs int64   `mapstructure:"netdev_budget_usecs" json:"netdev_budget_usecs"`
	RmemMax           int64   `mapstructure:"rmem_max" json:"rmem_max"`         // bytes
	RmemDefault       int64   `mapstructure:"rmem_default" json:"rmem_default"` // bytes
	TCPRmemMax        int64   `mapstructure:"tcp_rmem_max" json:"tcp_rmem_max"` // bytes, tcp_rmem[2]
	UDPMemMaxPages    int64   `mapstructure:"udp_mem_max_pages" json:"udp_mem_max_pages"`
	TCPMemMaxPages    int64   `mapstructure:"tcp_mem_max_pages" json:"tcp_mem_max_pages"`
	Somaxconn         int64   `mapstructure:"somaxconn" json:"somaxconn"`
	TCPMaxSynBacklog  int64   `mapstructure:"tcp_max_syn_backlog" json:"tcp_max_syn_backlog"`
	IPFragHighThresh  int64   `mapstructure:"ipfrag_high_thresh" json:"ipfrag_high_thresh"` // bytes, IPv4 and IPv6
	TxQueueLen        int64   `mapstructure:"txqueuelen" json:"txqueuelen"`
	QdiscLimit        int64   `mapstructure:"qdisc_limit" json:"qdisc_limit"`     // packets
	RingFraction      float64 `mapstructure:"ring_fraction" json:"ring_fraction"` // of the driver's maximum (1.0)
	FlowLimitTableLen int64   `mapstructure:"flow_limit_table_len" json:"flow_limit_table_len"`
	NfConntrackMax    int64   `mapstructure:"nf_conntrack_max" json:"nf_conntrack_max"` // entries, per netns
	NeighGCThresh     int64   `mapstructure:"neigh_gc_thresh" json:"neigh_gc_thresh"`   // entries, gc_thresh1..3, IPv4 and IPv6
	RPSFlowCnt        int64   `mapstructure:"rps_flow_cnt" json:"rps_flow_cnt"`         // entries per RX queue
}

// DefaultCaps are the caps with no config (values marked † in docs/rules.md are engineering
// proposals, here so an operator can change them).
func DefaultCaps() Caps {
	return Caps{
		NetdevMaxBacklog:  10000,
		NetdevBudget:      1200,  // 4 × 300
		NetdevBudgetUsecs: 32000, // 4 × 8000 (2 jiffies at HZ=250)
		RmemMax:           32 << 20,
		RmemDefault:       4 << 20,
		TCPRmemMax:        64 << 20,
		UDPMemMaxPages:    1 << 22, // 16 GiB of 4 KiB pages: a ceiling, udp_mem is raised in steps
		TCPMemMaxPages:    1 << 22, // same ceiling for tcp_mem
		Somaxconn:         65535,
		TCPMaxSynBacklog:  65535, // as somaxconn: one listener's queue of half-open connections
		IPFragHighThresh:  64 << 20,
		TxQueueLen:        10000,
		QdiscLimit:        10000,
		RingFraction:      1.0,
		FlowLimitTableLen: 8192,
		NfConntrackMax:    1 << 22, // 16 × the largest kernel default (262144); ≈ 1.3 GB per full netns at 320 B an entry
		NeighGCThresh:     1 << 16, // 64 × the kernel's gc_thresh3 default (1024)
		RPSFlowCnt:        1 << 15, // the kernel's RFS documentation suggests 32768 flows in all
	}
}

// Cap names the bound of an ordered knob.
type Cap uint8

const (
	NoCap Cap = iota
	CapNetdevMaxBacklog
	CapNetdevBudget
	CapNetdevBudgetUsecs
	CapRmemMax
	CapRmemDefault
	CapTCPRmemMax
	CapUDPMemMaxPages
	CapTCPMemMaxPages
	CapSomaxconn
	CapTCPMaxSynBacklog
	CapIPFragHighThresh
	CapTxQueueLen
	CapQdiscLimit
	CapFlowLimitTableLen
	CapNfConntrackMax
	CapNeighGCThresh
	CapRPSFlowCnt
	CapRingFraction // ring_fraction × the driver's maximum
	CapDriverMax    // the driver's maximum itself (channels); no config setting
)

// Key is the cap's key under `caps` in the config ("" for NoCap and CapDriverMax).
func (c Cap) Key() string {
	return [...]string{"", "netdev_max_backlog", "netdev_budget", "netdev_budget_usecs", "rmem_max",
		"rmem_default", "tcp_rmem_max", "udp_mem_max_pages", "tcp_mem_max_pages", "somaxconn",
		"tcp_max_syn_backlog", "ipfrag_high_thresh", "txqueuelen", "qdisc_limit", "flow_limit_table_len",
		"nf_conntrack_max", "neigh_gc_thresh", "rps_flow_cnt", "ring_fraction", ""}[c]
}

// IntCaps are the caps that are one integer of the config each.
func IntCaps() []Cap {
	var out []Cap
	for c := CapNetdevMaxBacklog; c < CapRingFraction; c++ {
		out = append(out, c)
	}
	return out
}

// Int is the config value of an integer cap (0 for the others).
func (c Caps) Int(cp Cap) int64 {
	switch cp {
	case CapNetdevMaxBacklog:
		return c.NetdevMaxBacklog
	case CapNetdevBudget:
		return c.NetdevBudget
	case CapNetdevBudgetUsecs:
		return c.NetdevBudgetUsecs
	case CapRmemMax:
		return c.RmemMax
	case CapRmemDefault:
		return c.RmemDefault
	case CapTCPRmemMax:
		return c.TCPRmemMax
	case CapUDPMemMaxPages:
		return c.UDPMemMaxPages
	case CapTCPMemMaxPages:
		return c.TCPMemMaxPages
	case CapSomaxconn:
		return c.Somaxconn
	case CapTCPMaxSynBacklog:
		return c.TCPMaxSynBacklog
	case CapIPFragHighThresh:
		return c.IPFragHighThresh
	case CapTxQueueLen:
		return c.TxQueueLen
	case CapQdiscLimit:
		return c.QdiscLimit
	case CapFlowLimitTableLen:
		return c.FlowLimitTableLen
	case CapNfConntrackMax:
		return c.NfConntrackMax
	case CapNeighGCThresh:
		return c.NeighGCThresh
	case CapRPSFlowCnt:
		return c.RPSFlowCnt
	}
	return 0
}

// Bound is what a limit needs besides the config: the driver's maximum (rings, channels) and
// the qdisc's kind (a bfifo limit counts bytes).
type Bound struct {
	DriverMax int64
	QdiscKind string
}

// bfifoPacketBytes converts the packet cap to bytes for bfifo limits (one 1500-byte MTU frame).
const bfifoPacketBytes = 1500

// Limit is the highest value cap cp allows: every numeric field of a value must stay at or
// below it. ok is false when nothing bounds the knob (NoCap, or a driver maximum not known).
func (c Caps) Limit(cp Cap, b Bound) (limit int64, ok bool) {
	switch cp {
	case NoCap:
		return 0, false
	case CapRingFraction:
		return int64(math.Floor(float64(b.DriverMax) * c.RingFraction)), b.DriverMax > 0
	case CapDriverMax:
		return b.DriverMax, b.DriverMax > 0
	case CapQdiscLimit:
		if b.QdiscKind == "bfifo" {
			return c.QdiscLimit * bfifoPacketBytes, true
		}
	}
	return c.Int(cp), true
}
