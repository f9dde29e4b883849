package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/nettune/nettune/model"
)

// Qdiscs are decoded from the raw RTM_NEWQDISC messages rather than through go-tc's
// Qdisc().Get(): go-tc v0.4.8 decodes TCA_STATS2 as a flat struct (wrong values) and does
// not expose the raw message, and its legacy TCA_STATS has 32-bit packets and no requeues.
// TCA_STATS2 carries 64-bit packets (TCA_STATS_PKT64) and the requeue count. go-tc is
// used to set qdiscs up in the tests, which also compare its TCA_STATS view with ours.

// Netlink constants from include/uapi/linux/rtnetlink.h, gen_stats.h and pkt_sched.h.
const (
	tcaKind    = 1
	tcaOptions = 2
	tcaStats   = 3 // legacy struct tc_stats
	tcaStats2  = 7

	tcaStatsBasic = 1 // struct gnet_stats_basic
	tcaStatsQueue = 3 // struct gnet_stats_queue
	tcaStatsPkt64 = 8 // u64 packets, sent when they exceed 32 bits

	tcaTbfParms  = 1 // struct tc_tbf_qopt
	tcaTbfRate64 = 4 // u64 rate when it exceeds 32 bits

	tcHRoot     = 0xFFFFFFFF
	tcHIngress  = 0xFFFFFFF1 // also clsact's parent
	sizeofTcmsg = 20
)

// parseQdisc decodes one RTM_NEWQDISC message body (tcmsg + attributes); the kind comes
// from kinds.
func parseQdisc(b []byte, kinds interner) (ifindex int, q model.Qdisc, err error) {
	if len(b) < sizeofTcmsg {
		return 0, q, fmt.Errorf("qdisc message: %d bytes", len(b))
	}
	ifindex = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	handle := binary.NativeEndian.Uint32(b[8:12])
	parent := binary.NativeEndian.Uint32(b[12:16])

	// Every qdisc reports drops, overlimits and requeues as u32 (gnet_stats_queue).
	q.Wrap32 = true
	var options []byte
	var haveStats2 bool
	var nestedErr error
	err = walkAttrs(b[sizeofTcmsg:], func(typ uint16, d []byte) {
		switch typ {
		case tcaKind:
			q.Kind = kinds.cString(d)
		case tcaOptions:
			options = d
		case tcaStats2:
			haveStats2 = true
			nestedErr = walkAttrs(d, func(typ uint16, d []byte) { stats2(typ, d, &q) })
		case tcaStats:
			if !haveStats2 {
				legacyStats(d, &q)
			}
		}
	})
	if err = errors.Join(err, nestedErr); err != nil {
		return ifindex, q, fmt.Errorf("qdisc on link %d: %w", ifindex, err)
	}
	q.Handle = handleString(handle)
	switch parent {
	case tcHRoot:
		q.Parent, q.Root = "root", true
	case tcHIngress:
		q.Parent = q.Kind // "ingress" or "clsact", as tc names the hook
	default:
		q.Parent = fmt.Sprintf("%x:%x", parent>>16, parent&0xFFFF)
	}
	limit(options, &q)
	return ifindex, q, nil
}

// stats2 reads one attribute nested in TCA_STATS2. The kernel clamps gnet_stats_basic's
// packets to u32 and then also sends TCA_STATS_PKT64, after it.
func stats2(typ uint16, b []byte, q *model.Qdisc) {
	switch typ {
	case tcaStatsBasic:
		if len(b) >= 12 {
			q.Bytes = binary.NativeEndian.Uint64(b[0:8])
			if q.Packets <= math.MaxUint32 { // keep a PKT64 value already seen
				q.Packets = uint64(binary.NativeEndian.Uint32(b[8:12]))
			}
		}
	case tcaStatsPkt64:
		if len(b) >= 8 {
			q.Packets = binary.NativeEndian.Uint64(b)
		}
	case tcaStatsQueue:
		if len(b) >= 20 {
			q.Qlen = binary.NativeEndian.Uint32(b[0:4])
			q.Backlog = binary.NativeEndian.Uint32(b[4:8])
			q.Drops = uint64(binary.NativeEndian.Uint32(b[8:12]))
			q.Requeues = uint64(binary.NativeEndian.Uint32(b[12:16]))
			q.Overlimits = uint64(binary.NativeEndian.Uint32(b[16:20]))
		}
	}
}

// legacyStats reads struct tc_stats, for kernels that send no TCA_STATS2 (none current);
// it has no requeue count, so Requeues stays 0.
func legacyStats(b []byte, q *model.Qdisc) {
	if len(b) < 36 {
		return
	}
	q.Bytes = binary.NativeEndian.Uint64(b[0:8])
	q.Packets = uint64(binary.NativeEndian.Uint32(b[8:12]))
	q.Drops = uint64(binary.NativeEndian.Uint32(b[12:16]))
	q.Overlimits = uint64(binary.NativeEndian.Uint32(b[16:20]))
	q.Qlen = binary.NativeEndian.Uint32(b[28:32])
	q.Backlog = binary.NativeEndian.Uint32(b[32:36])
}

// limit fills the queue limit of the qdiscs that have a fixed one: pfifo counts packets,
// bfifo and tbf bytes. pfifo_fast's limit is the device's txqueuelen (filled by the caller).
func limit(options []byte, q *model.Qdisc) {
	switch q.Kind {
	case "pfifo":
		if len(options) >= 4 {
			q.Limit = binary.NativeEndian.Uint32(options)
		}
	case "bfifo":
		if len(options) >= 4 {
			q.LimitBytes = binary.NativeEndian.Uint32(options)
		}
	case "tbf":
		_ = walkAttrs(options, func(typ uint16, b []byte) {
			switch {
			// tc_tbf_qopt: two 12-byte tc_ratespecs (rate: u32 bytes/s at offset 8), then limit.
			case typ == tcaTbfParms && len(b) >= 28:
				q.LimitBytes = binary.NativeEndian.Uint32(b[24:28])
				if q.Rate == 0 {
					q.Rate = uint64(binary.NativeEndian.Uint32(b[8:12]))
				}
			// rates of 2^32 bytes/s and more do not fit the ratespec and come as a u64.
			case typ == tcaTbfRate64 && len(b) >= 8:
				q.Rate = binary.NativeEndian.Uint64(b[:8])
			}
		})
	}
}

// handleString prints a qdisc handle as tc does ("1:"), "" for handle 0.
func handleString(h uint32) string {
	if h == 0 {
		return ""
	}
	if h&0xFFFF == 0 {
		return fmt.Sprintf("%x:", h>>16)
	}
	return fmt.Sprintf("%x:%x", h>>16, h&0xFFFF)
}
