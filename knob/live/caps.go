package live

import (
	"math"

	"github.com/nettune/nettune/policy"
)

// sysctlCaps maps the sysctls with a configured ceiling to it; multi-value sysctls (tcp_rmem,
// udp_mem) are capped field by field.
var sysctlCaps = map[string]func(policy.Caps) int64{
	"net.core.netdev_max_backlog":    func(c policy.Caps) int64 { return c.NetdevMaxBacklog },
	"net.core.netdev_budget":         func(c policy.Caps) int64 { return c.NetdevBudget },
	"net.core.netdev_budget_usecs":   func(c policy.Caps) int64 { return c.NetdevBudgetUsecs },
	"net.core.rmem_max":              func(c policy.Caps) int64 { return c.RmemMax },
	"net.core.rmem_default":          func(c policy.Caps) int64 { return c.RmemDefault },
	"net.ipv4.tcp_rmem":              func(c policy.Caps) int64 { return c.TCPRmemMax },
	"net.ipv4.udp_mem":               func(c policy.Caps) int64 { return c.UDPMemMaxPages },
	"net.core.somaxconn":             func(c policy.Caps) int64 { return c.Somaxconn },
	"net.ipv4.ipfrag_high_thresh":    func(c policy.Caps) int64 { return c.IPFragHighThresh },
	"net.core.flow_limit_table_len":  func(c policy.Caps) int64 { return c.FlowLimitTableLen },
	"net.netfilter.nf_conntrack_max": func(c policy.Caps) int64 { return c.NfConntrackMax },
}

// bfifoPacketBytes converts the packet cap to bytes for bfifo limits (one 1500-byte MTU frame).
const bfifoPacketBytes = 1500

// Cap is the highest value the config allows for k (every numeric field must stay at or
// below it); ok is false when no cap applies. Ring caps need the driver maximum, so they read.
func Cap(k Knob, c policy.Caps) (limit int64, ok bool, err error) {
	switch k := k.(type) {
	case *sysctlKnob:
		if f := sysctlCaps[k.key]; f != nil {
			return f(c), true, nil
		}
	case *txqlenKnob:
		return c.TxQueueLen, true, nil
	case *qdiscKnob:
		if k.kind == "bfifo" {
			return c.QdiscLimit * bfifoPacketBytes, true, nil
		}
		return c.QdiscLimit, true, nil
	case *ringKnob:
		m, err := k.Max()
		if err != nil {
			return 0, false, err
		}
		return int64(math.Floor(float64(m) * c.RingFraction)), true, nil
	}
	return 0, false, nil
}

// Ordered reports whether k's values have a size (counts, bytes, lengths). CPU masks and
// lists do not: moving work between CPUs is neither more nor less, so steps, caps and the
// never-lower rule do not apply to them.
func Ordered(k Knob) bool {
	switch k := k.(type) {
	case *irqKnob:
		return false
	case *queueKnob:
		return k.kind != "rps"
	}
	return true
}
