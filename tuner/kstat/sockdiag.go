package kstat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sock_diag request is built here: vishvananda/netlink's SocketDiagUDPInfo asks only for
// INET_DIAG_MEMINFO (queued bytes), not INET_DIAG_SKMEMINFO, which carries sk_rcvbuf and
// sk_drops. The I/O is a plain blocking recvmsg into one buffer: mdlayher/netlink's Conn
// peeks every datagram with doubling buffers, parks on the netpoller and allocates per
// message and attribute, which made a 10k-socket dump several times slower here.

// From linux/inet_diag.h (not in x/sys/unix).
const (
	inetDiagSKMemInfo = 7  // INET_DIAG_SKMEMINFO: u32 array indexed by SK_MEMINFO_*
	inetDiagReqLen    = 56 // struct inet_diag_req_v2
	inetDiagMsgLen    = 72 // struct inet_diag_msg
)

// errNoDrops: the kernel's sk_meminfo has no SK_MEMINFO_DROPS, or it ignored the SKMEMINFO
// request.
var errNoDrops = errors.New("no sk_drops in INET_DIAG_SKMEMINFO")

// dumpBufLen holds any datagram of a dump: the kernel fills dump skbs up to 32 KiB.
const dumpBufLen = 64 << 10

// sockDiagUDP dumps the UDP sockets of each family over NETLINK_SOCK_DIAG with
// INET_DIAG_SKMEMINFO and passes every answer (inet_diag_msg and attributes) to fn. The
// netlink socket is opened on the calling thread, so it sees that thread's network namespace.
func sockDiagUDP(families []uint8, fn func([]byte) error) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, dumpBufLen)
	for i, fam := range families {
		seq := uint32(i + 1)
		if err := sockDiagDump(fd, buf, udpDiagRequest(fam, seq), seq, fn); err != nil {
			return fmt.Errorf("sock_diag udp family %d: %w", fam, err)
		}
	}
	return nil
}

// sockDiagDump sends one dump request and passes the payload of every answer to fn.
func sockDiagDump(fd int, buf, req []byte, seq uint32, fn func([]byte) error) error {
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if err != nil {
			return err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return errors.New("netlink datagram larger than the buffer")
		}
		if done, err := netlinkAnswers(buf[:n], seq, fn); done || err != nil {
			return err
		}
	}
}

// netlinkAnswers passes the payload of every message in b that answers request seq to fn;
// done reports the end of the dump (NLMSG_DONE or NLMSG_ERROR, with its errno if it failed).
// The framing is walked by hand: syscall.ParseNetlinkMessage allocates a slice per datagram.
func netlinkAnswers(b []byte, seq uint32, fn func([]byte) error) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return true, fmt.Errorf("netlink header of %d bytes", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return true, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		typ, msgSeq, data := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:]), b[unix.NLMSG_HDRLEN:l]
		b = b[min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
		if msgSeq != seq {
			continue // not an answer to this request
		}
		if typ == unix.NLMSG_DONE || typ == unix.NLMSG_ERROR {
			// Both start with an int: 0, or the negated errno of a failed dump or request
			// (ENOENT: no udp_diag).
			if len(data) < 4 {
				return true, fmt.Errorf("netlink message type %d of %d bytes", typ, len(data))
			}
			if e := -int32(binary.NativeEndian.Uint32(data)); e != 0 {
				return true, syscall.Errno(e)
			}
			return true, nil
		}
		if err := fn(data); err != nil {
			return true, err
		}
	}
	return false, nil
}

// udpDiagRequest is a netlink dump request carrying an inet_diag_req_v2 for every UDP socket
// of family, with SKMEMINFO.
func udpDiagRequest(family uint8, seq uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqLen)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(b[8:], seq)
	r := b[unix.NLMSG_HDRLEN:]
	r[0] = family
	r[1] = unix.IPPROTO_UDP
	r[2] = 1 << (inetDiagSKMemInfo - 1)
	binary.NativeEndian.PutUint32(r[4:], ^uint32(0)) // all states: bound and connected
	return b
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
