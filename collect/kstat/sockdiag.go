package kstat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
)

// The sock_diag request is built here: vishvananda/netlink's SocketDiagUDPInfo asks only for
// INET_DIAG_MEMINFO (queued bytes), not INET_DIAG_SKMEMINFO, which carries sk_rcvbuf and
// sk_drops. The dump runs over internal/nldump (why: see there; with mdlayher/netlink
// a 10k-socket dump was several times slower here).

// From linux/inet_diag.h (not in x/sys/unix).
const (
	inetDiagSKMemInfo = 7  // INET_DIAG_SKMEMINFO: u32 array indexed by SK_MEMINFO_*
	inetDiagReqLen    = 56 // struct inet_diag_req_v2
	inetDiagMsgLen    = 72 // struct inet_diag_msg
)

// errNoDrops: the kernel's sk_meminfo has no SK_MEMINFO_DROPS, or it ignored the SKMEMINFO
// request.
var errNoDrops = errors.New("no sk_drops in INET_DIAG_SKMEMINFO")

// sockDiagUDP returns the dumper of ReadUDPSockets: it dumps the UDP sockets of each family
// over NETLINK_SOCK_DIAG with INET_DIAG_SKMEMINFO and passes every answer (inet_diag_msg and
// attributes) to fn. The netlink socket comes from open, on the calling thread, so it sees
// that thread's network namespace.
func sockDiagUDP(open nldump.Opener) udpDumper {
	return func(families []uint8, fn func([]byte) error) error {
		c, err := open(unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		defer c.Close()
		for _, fam := range families {
			if _, err := c.Dump(unix.SOCK_DIAG_BY_FAMILY, udpDiagRequest(fam), fn); err != nil {
				return fmt.Errorf("sock_diag udp family %d: %w", fam, err)
			}
		}
		return nil
	}
}

// udpDiagRequest is an inet_diag_req_v2 for every UDP socket of family, with SKMEMINFO.
func udpDiagRequest(family uint8) []byte {
	r := make([]byte, inetDiagReqLen)
	r[0] = family
	r[1] = unix.IPPROTO_UDP
	r[2] = 1 << (inetDiagSKMemInfo - 1)
	binary.NativeEndian.PutUint32(r[4:], ^uint32(0)) // all states: bound and connected
	return r
}

// diagSocket is one socket of a dump, the address kept raw until the socket is kept.
type diagSocket struct {
	family          uint8
	port            uint16
	addr            [16]byte
	inode           uint64
	drops           uint64
	rcvBuf, rxQueue uint32
}

func (s diagSocket) local() string {
	a := netip.AddrFrom16(s.addr)
	if s.family == unix.AF_INET {
		a = netip.AddrFrom4([4]byte(s.addr[:4]))
	}
	return netip.AddrPortFrom(a, s.port).String()
}

// parseUDPDiag decodes one SOCK_DIAG_BY_FAMILY answer (struct inet_diag_msg, then netlink
// attributes) without allocating: a dump has one per socket.
func parseUDPDiag(b []byte) (diagSocket, error) {
	if len(b) < inetDiagMsgLen {
		return diagSocket{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(b), inetDiagMsgLen)
	}
	s := diagSocket{
		family:  b[0],
		port:    binary.BigEndian.Uint16(b[4:]), // idiag_sport
		addr:    [16]byte(b[8:24]),              // idiag_src
		rxQueue: binary.NativeEndian.Uint32(b[56:]),
		inode:   uint64(binary.NativeEndian.Uint32(b[68:])),
	}
	found := false
	for a := b[inetDiagMsgLen:]; len(a) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(a))
		if l < unix.SizeofRtAttr || l > len(a) {
			return diagSocket{}, fmt.Errorf("attribute of %d bytes in %d", l, len(a))
		}
		if binary.NativeEndian.Uint16(a[2:]) == inetDiagSKMemInfo {
			v := a[unix.SizeofRtAttr:l]
			if len(v) < 4*(unix.SK_MEMINFO_DROPS+1) {
				return diagSocket{}, errNoDrops
			}
			s.rcvBuf = binary.NativeEndian.Uint32(v[4*unix.SK_MEMINFO_RCVBUF:])
			s.drops = uint64(binary.NativeEndian.Uint32(v[4*unix.SK_MEMINFO_DROPS:]))
			found = true
		}
		a = a[min((l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(a)):]
	}
	if !found {
		return diagSocket{}, errNoDrops
	}
	return s, nil
}
