package kstat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// Caps on what a sample keeps of a namespace's TCP sockets. A node has thousands of
// connections and sometimes hundreds of listeners; the rules need the few that explain a
// counter (the fullest accept queues, the connections that retransmit or drop most), and the
// sample must stay small.
const (
	MaxTCPListeners = 64
	MaxTCPRetrans   = 16
	MaxTCPDropping  = 16
)

// From linux/inet_diag.h.
const (
	inetDiagInfo = 2 // INET_DIAG_INFO: struct tcp_info
	inetDiagCong = 4 // INET_DIAG_CONG: the congestion control's name, NUL-terminated
)

// TCP states (include/net/tcp_states.h), as bits of an inet_diag_req_v2's idiag_states.
const (
	tcpEstablished = 1
	tcpSynSent     = 2
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpCloseWait   = 8
	tcpLastAck     = 9
	tcpListen      = 10
	tcpClosing     = 11
)

// tcpStateNames are the names ss prints, indexed by state.
var tcpStateNames = [...]string{"", "established", "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2",
	"time-wait", "close", "close-wait", "last-ack", "listen", "closing", "new-syn-recv"}

// retransStates are the states ReadTCPConns dumps, those in which a connection can still
// retransmit: every state but listen, time-wait, close and the request sockets.
const retransStates = 1<<tcpEstablished | 1<<tcpSynSent | 1<<tcpFinWait1 | 1<<tcpFinWait2 |
	1<<tcpCloseWait | 1<<tcpLastAck | 1<<tcpClosing

// tcp_info offsets: the struct only ever grows, so a field is present when the attribute
// reaches past it.
var (
	tcpiLost         = int(unsafe.Offsetof(unix.TCPInfo{}.Lost))
	tcpiRetrans      = int(unsafe.Offsetof(unix.TCPInfo{}.Retrans))
	tcpiRTT          = int(unsafe.Offsetof(unix.TCPInfo{}.Rtt))
	tcpiSndCwnd      = int(unsafe.Offsetof(unix.TCPInfo{}.Snd_cwnd))
	tcpiTotalRetrans = int(unsafe.Offsetof(unix.TCPInfo{}.Total_retrans))
	tcpiSegsOut      = int(unsafe.Offsetof(unix.TCPInfo{}.Segs_out))
)

// tcpDiagRequest is an inet_diag_req_v2 for the TCP sockets of family in states, asking
// for the extensions (bits of 1 << (INET_DIAG_x − 1)).
func tcpDiagRequest(family uint8, states uint32, ext uint8) []byte {
	r := make([]byte, inetDiagReqLen)
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	r[2] = ext
	binary.NativeEndian.PutUint32(r[4:], states)
	return r
}

// dumpTCP runs one sock_diag dump per family.
func dumpTCP(d nldump.Dumper, states uint32, ext uint8, fn func([]byte) error) error {
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if _, err := d.Dump(unix.SOCK_DIAG_BY_FAMILY, tcpDiagRequest(fam, states, ext), fn); err != nil {
			return fmt.Errorf("sock_diag tcp family %d: %w", fam, err)
		}
	}
	return nil
}

// ReadTCPListeners returns the listening TCP sockets of the namespace d was opened in,
// those that refused connections first (most sk_drops), then the fullest accept queue (then
// the smaller backlog), at most MaxTCPListeners. For a listener the kernel reports the
// accept queue's length and limit (sk_ack_backlog and sk_max_ack_backlog) where other
// sockets have their queued bytes, and its drops in INET_DIAG_SKMEMINFO.
func ReadTCPListeners(d nldump.Dumper) ([]model.TCPListener, error) {
	top := topN[tcpSocket]{max: MaxTCPListeners, less: fuller}
	err := dumpTCP(d, 1<<tcpListen, 1<<(inetDiagSKMemInfo-1), func(b []byte) error {
		s, err := parseTCPDiag(b)
		if err == nil {
			top.offer(s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []model.TCPListener
	for _, s := range top.sorted() {
		out = append(out, model.TCPListener{Local: addrPort(s.family, s.src, s.sport), Inode: s.inode,
			AcceptQueue: s.rqueue, Backlog: s.wqueue, Drops: s.drops})
	}
	return out, nil
}

// fuller orders listeners: did a refuse fewer connections than b, or is its accept queue
// less full?
func fuller(a, b tcpSocket) bool {
	if a.drops != b.drops {
		return a.drops < b.drops
	}
	fa, fb := uint64(a.rqueue)*uint64(b.wqueue), uint64(b.rqueue)*uint64(a.wqueue)
	if fa != fb {
		return fa < fb
	}
	if a.wqueue != b.wqueue {
		return a.wqueue > b.wqueue
	}
	return a.inode > b.inode
}

// TCPConns is what one dump of a namespace's TCP connections keeps.
type TCPConns struct {
	Retrans  []model.TCPConn // most retransmissions first, at most MaxTCPRetrans
	Dropping []model.TCPConn // most drops first, at most MaxTCPDropping
	// DroppingOmitted counts the connections with drops beyond MaxTCPDropping.
	DroppingOmitted int
}

// ReadTCPConns dumps the TCP connections of the namespace d was opened in once, with
// tcp_info, the congestion control and sk_meminfo, and keeps two lists: those that have
// retransmitted, with their tcp_info and congestion control, and those whose sk_drops is
// above zero, with their receive buffer. The kernel adds to a connection's sk_drops every
// segment it discards after finding the connection: the receive-queue, out-of-order and
// zero-window drops and prunes (tcp_drop_reason) and the backlog drops (tcp_v4_rcv and
// tcp_v6_rcv after a failed tcp_add_backlog), but also duplicates and segments outside the
// window. Only the kept connections' addresses and names are allocated.
func ReadTCPConns(d nldump.Dumper) (TCPConns, error) {
	retrans := topN[tcpSocket]{max: MaxTCPRetrans, less: fewerRetrans}
	dropping := topN[tcpSocket]{max: MaxTCPDropping, less: fewerDrops}
	ext := uint8(1<<(inetDiagInfo-1) | 1<<(inetDiagCong-1) | 1<<(inetDiagSKMemInfo-1))
	dropped := 0
	err := dumpTCP(d, retransStates, ext, func(b []byte) error {
		s, err := parseTCPDiag(b)
		if err != nil {
			return err
		}
		if s.totalRetrans > 0 {
			retrans.offer(s)
		}
		if s.drops > 0 {
			dropped++
			dropping.offer(s)
		}
		return nil
	})
	if err != nil {
		return TCPConns{}, err
	}
	var out TCPConns
	for _, s := range retrans.sorted() {
		c := s.conn()
		c.TotalRetrans, c.SegsOut, c.Retrans, c.Lost, c.RTT, c.SndCwnd = s.totalRetrans, s.segsOut, s.retrans, s.lost, s.rtt, s.sndCwnd
		cc, _, _ := bytes.Cut(s.cc[:], []byte{0})
		c.CC = string(cc)
		out.Retrans = append(out.Retrans, c)
	}
	for _, s := range dropping.sorted() {
		c := s.conn()
		c.Drops, c.RcvBuf = s.drops, s.rcvBuf
		out.Dropping = append(out.Dropping, c)
	}
	out.DroppingOmitted = dropped - len(out.Dropping)
	return out, nil
}

// conn is what both lists of ReadTCPConns say of a connection: its addresses, inode and
// state.
func (s *tcpSocket) conn() model.TCPConn {
	c := model.TCPConn{Local: addrPort(s.family, s.src, s.sport), Remote: addrPort(s.family, s.dst, s.dport), Inode: s.inode}
	if int(s.state) < len(tcpStateNames) {
		c.State = tcpStateNames[s.state]
	}
	return c
}

func fewerRetrans(a, b tcpSocket) bool {
	if a.totalRetrans != b.totalRetrans {
		return a.totalRetrans < b.totalRetrans
	}
	return a.inode > b.inode
}

func fewerDrops(a, b tcpSocket) bool {
	if a.drops != b.drops {
		return a.drops < b.drops
	}
	return a.inode > b.inode
}

// tcpSocket is one answer of a TCP dump, kept raw until the socket is kept.
type tcpSocket struct {
	family, state  uint8
	sport, dport   uint16
	src, dst       [16]byte
	inode          uint64
	rqueue, wqueue uint32
	// From INET_DIAG_SKMEMINFO, when asked for.
	drops  uint64 // sk_drops
	rcvBuf uint32 // sk_rcvbuf
	// From tcp_info, when asked for.
	totalRetrans, segsOut, retrans, lost, rtt, sndCwnd uint32
	cc                                                 [16]byte // TCP_CA_NAME_MAX
}

// parseTCPDiag decodes one SOCK_DIAG_BY_FAMILY answer for TCP (struct inet_diag_msg, then
// attributes) without allocating.
func parseTCPDiag(b []byte) (tcpSocket, error) {
	if len(b) < inetDiagMsgLen {
		return tcpSocket{}, fmt.Errorf("inet_diag_msg of %d bytes, want %d", len(b), inetDiagMsgLen)
	}
	s := tcpSocket{
		family: b[0],
		state:  b[1],
		sport:  binary.BigEndian.Uint16(b[4:]),
		dport:  binary.BigEndian.Uint16(b[6:]),
		src:    [16]byte(b[8:24]),
		dst:    [16]byte(b[24:40]),
		rqueue: binary.NativeEndian.Uint32(b[56:]),
		wqueue: binary.NativeEndian.Uint32(b[60:]),
		inode:  uint64(binary.NativeEndian.Uint32(b[68:])),
	}
	for a := b[inetDiagMsgLen:]; len(a) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(a))
		if l < unix.SizeofRtAttr || l > len(a) {
			return tcpSocket{}, fmt.Errorf("attribute of %d bytes in %d", l, len(a))
		}
		v := a[unix.SizeofRtAttr:l]
		switch binary.NativeEndian.Uint16(a[2:]) {
		case inetDiagInfo:
			s.tcpInfo(v)
		case inetDiagCong:
			copy(s.cc[:], v)
		case inetDiagSKMemInfo:
			if len(v) >= 4*(unix.SK_MEMINFO_DROPS+1) {
				s.rcvBuf = binary.NativeEndian.Uint32(v[4*unix.SK_MEMINFO_RCVBUF:])
				s.drops = uint64(binary.NativeEndian.Uint32(v[4*unix.SK_MEMINFO_DROPS:]))
			}
		}
		a = a[min((l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(a)):]
	}
	return s, nil
}

// tcpInfo takes the fields a shorter tcp_info (an older kernel) has.
func (s *tcpSocket) tcpInfo(v []byte) {
	for _, f := range []struct {
		off int
		to  *uint32
	}{{tcpiLost, &s.lost}, {tcpiRetrans, &s.retrans}, {tcpiRTT, &s.rtt}, {tcpiSndCwnd, &s.sndCwnd},
		{tcpiTotalRetrans, &s.totalRetrans}, {tcpiSegsOut, &s.segsOut}} {
		if len(v) >= f.off+4 {
			*f.to = binary.NativeEndian.Uint32(v[f.off:])
		}
	}
}

// addrPort formats an inet_diag address: IPv4 in the first 4 bytes, or IPv6.
func addrPort(family uint8, addr [16]byte, port uint16) string {
	a := netip.AddrFrom16(addr)
	if family == unix.AF_INET {
		a = netip.AddrFrom4([4]byte(addr[:4]))
	}
	return netip.AddrPortFrom(a, port).String()
}

// topN keeps the max greatest items offered (by less), without allocating beyond them.
type topN[T any] struct {
	max   int
	less  func(a, b T) bool
	items []T
}

func (t *topN[T]) offer(x T) {
	if len(t.items) < t.max {
		t.items = append(t.items, x)
		return
	}
	low := 0
	for i := range t.items {
		if t.less(t.items[i], t.items[low]) {
			low = i
		}
	}
	if t.less(t.items[low], x) {
		t.items[low] = x
	}
}

// sorted returns the kept items, greatest first.
func (t *topN[T]) sorted() []T {
	sort.Slice(t.items, func(i, j int) bool { return t.less(t.items[j], t.items[i]) })
	return t.items
}
