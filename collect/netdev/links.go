package netdev

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// Operational states from include/uapi/linux/if.h (RFC 2863).
const (
	operUnknown = 0
	operUp      = 6
)

// parseLink decodes one RTM_NEWLINK message body (ifinfomsg + attributes); the kind comes
// from kinds.
func parseLink(b []byte, kinds interner) (model.Link, error) {
	var l model.Link
	if len(b) < unix.SizeofIfInfomsg {
		return l, fmt.Errorf("link message: %d bytes", len(b))
	}
	l.Index = int(int32(binary.NativeEndian.Uint32(b[4:8])))
	flags := binary.NativeEndian.Uint32(b[8:12])
	operState := uint8(operUnknown)
	var link int
	var linkNetns *int32
	u32 := func(d []byte) int {
		if len(d) < 4 {
			return 0
		}
		return int(binary.NativeEndian.Uint32(d))
	}
	err := walkAttrs(b[unix.SizeofIfInfomsg:], func(typ uint16, d []byte) {
		switch typ {
		case unix.IFLA_IFNAME:
			l.Name = cString(d)
		case unix.IFLA_MTU:
			l.MTU = u32(d)
		case unix.IFLA_TXQLEN:
			l.TxQueueLen = u32(d)
		case unix.IFLA_NUM_RX_QUEUES:
			l.NumRxQ = u32(d)
		case unix.IFLA_NUM_TX_QUEUES:
			l.NumTxQ = u32(d)
		case unix.IFLA_OPERSTATE:
			if len(d) > 0 {
				operState = d[0]
			}
		case unix.IFLA_LINKINFO:
			_ = walkAttrs(d, func(typ uint16, d []byte) {
				if typ == unix.IFLA_INFO_KIND {
					l.Kind = kinds.cString(d)
				}
			})
		case unix.IFLA_STATS64:
			l.Stats = stats64(d)
		case unix.IFLA_LINK:
			link = u32(d)
		case unix.IFLA_LINK_NETNSID:
			if len(d) >= 4 {
				id := int32(binary.NativeEndian.Uint32(d))
				linkNetns = &id
			}
		}
	})
	if err != nil {
		return l, fmt.Errorf("link %d: %w", l.Index, err)
	}
	// A veth's IFLA_LINK is its peer (other kinds name their lower device there).
	if l.Kind == "veth" && link > 0 {
		l.PeerIfindex, l.PeerNetnsID = link, linkNetns
	}
	// Drivers without operstate support (lo, tun) report UNKNOWN while passing traffic.
	l.OperUp = operState == operUp ||
		(operState == operUnknown && flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0)
	return l, nil
}

// cString returns a NUL-terminated netlink string.
func cString(d []byte) string {
	return string(trimNUL(d))
}

// trimNUL cuts d at its first NUL.
func trimNUL(d []byte) []byte {
	if i := bytes.IndexByte(d, 0); i >= 0 {
		return d[:i]
	}
	return d
}

// interner hands out one string per distinct value, for strings that repeat across links
// (a thousand veths are all of kind "veth", their qdiscs all "pfifo_fast"): one allocation
// per value instead of one per link. It holds few values: kinds and driver names.
type interner map[string]string

// cString returns the NUL-terminated netlink string d, interned.
func (in interner) cString(d []byte) string {
	d = trimNUL(d)
	if s, ok := in[string(d)]; ok { // no allocation for the lookup
		return s
	}
	s := string(d)
	in[s] = s
	return s
}

// stats64 decodes struct rtnl_link_stats64 (include/uapi/linux/if_link.h), an array of u64
// that newer kernels extend at the end; fields the running kernel lacks stay zero.
func stats64(b []byte) model.LinkStats {
	f := func(i int) uint64 {
		if (i+1)*8 > len(b) {
			return 0
		}
		return binary.NativeEndian.Uint64(b[i*8:])
	}
	return model.LinkStats{
		RxPackets: f(0), TxPackets: f(1), RxBytes: f(2), TxBytes: f(3),
		RxErrors: f(4), TxErrors: f(5), RxDropped: f(6), TxDropped: f(7),
		// 8 multicast, 9 collisions
		RxLengthErrors: f(10), RxOverErrors: f(11), RxCrcErrors: f(12), RxFrameErrors: f(13),
		RxFifoErrors: f(14), RxMissedErrors: f(15), TxAbortedErrors: f(16),
		TxCarrierErrors: f(17), TxFifoErrors: f(18),
		// 19 tx_heartbeat_errors, 20 tx_window_errors, 21/22 compressed
		RxNoHandler: f(23),
	}
}
