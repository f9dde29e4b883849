// Package nldump runs netlink dumps over a blocking socket with one receive buffer.
//
// Both netlink libraries cost more than the dump itself when a sample reads 1 000 links:
// mdlayher/netlink peeks every datagram, parks on the netpoller and starts a goroutine per
// read (on a thread locked into a namespace, each is a thread hand-off);
// vishvananda/netlink allocates a 64 KiB buffer per read. Here a dump is sendto, then
// recvmsg into the same buffer until NLMSG_DONE, and answers are handed to the caller in
// place, so parsing happens while the datagram is in the buffer.
package nldump

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/freelist"
)

// bufLen holds any datagram of a dump: the kernel fills dump skbs up to 32 KiB.
const bufLen = 64 << 10

// bufs are the receive buffers of every Conn, taken for one dump: a node sampler keeps
// several sockets open in each of hundreds of namespaces but dumps on a few threads at a
// time, so a buffer per socket would hold megabytes that are almost never in use.
var bufs freelist.List[[bufLen]byte]

// Dumper runs netlink dumps: a Conn, or something that answers like one (a recording).
type Dumper interface {
	Dump(typ uint16, body []byte, fn func([]byte) error) (interrupted bool, err error)
	Close() error
}

// Opener opens a Dumper for netlink protocol proto in the calling thread's namespace.
type Opener func(proto int) (Dumper, error)

// OpenDumper is Open as an Opener: a socket on the running kernel.
func OpenDumper(proto int) (Dumper, error) {
	c, err := Open(proto)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Conn is a netlink socket in the network namespace of the thread that opened it. It is
// not safe for concurrent use.
type Conn struct {
	fd  int
	seq uint32
}

// Open opens a netlink socket of protocol proto (unix.NETLINK_ROUTE, ...).
func Open(proto int) (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &Conn{fd: fd}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Dump sends request typ with NLM_F_DUMP and body, and passes the payload of every answer
// to fn; the payload is only valid during the call. interrupted reports that the kernel
// flagged the dump inconsistent (NLM_F_DUMP_INTR: the objects changed while it ran). After
// an error from fn the rest of the dump is still read, so the socket can dump again.
func (c *Conn) Dump(typ uint16, body []byte, fn func([]byte) error) (interrupted bool, err error) {
	c.seq++
	req := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], typ)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], c.seq)
	copy(req[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, err
	}
	bp := bufs.Get()
	defer bufs.Put(bp)
	buf := bp[:]
	var fnErr error
	keep := func(m []byte) error {
		if fnErr == nil {
			fnErr = fn(m)
		}
		return nil
	}
	for {
		n, _, flags, _, err := unix.Recvmsg(c.fd, buf, nil, 0)
		if err != nil {
			return interrupted, err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return interrupted, errors.New("netlink datagram larger than the buffer")
		}
		done, intr, err := Answers(buf[:n], c.seq, keep)
		interrupted = interrupted || intr
		if err != nil {
			return interrupted, err
		}
		if done {
			return interrupted, fnErr
		}
	}
}

// Answers passes the payload of every message in b that answers request seq to fn; done
// reports the end of the dump (NLMSG_DONE or NLMSG_ERROR, with its errno if it failed),
// interrupted a message flagged NLM_F_DUMP_INTR. The framing is walked by hand:
// syscall.ParseNetlinkMessage allocates a slice per datagram.
func Answers(b []byte, seq uint32, fn func([]byte) error) (done, interrupted bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return true, interrupted, fmt.Errorf("netlink header of %d bytes", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return true, interrupted, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		typ, flags := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint16(b[6:])
		msgSeq, data := binary.NativeEndian.Uint32(b[8:]), b[unix.NLMSG_HDRLEN:l]
		b = b[min((l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1), len(b)):]
		if msgSeq != seq {
			continue // not an answer to this request
		}
		interrupted = interrupted || flags&unix.NLM_F_DUMP_INTR != 0
		if typ == unix.NLMSG_DONE || typ == unix.NLMSG_ERROR {
			// Both start with an int: 0, or the negated errno of a failed dump or request.
			if len(data) < 4 {
				return true, interrupted, fmt.Errorf("netlink message type %d of %d bytes", typ, len(data))
			}
			if e := -int32(binary.NativeEndian.Uint32(data)); e != 0 {
				return true, interrupted, syscall.Errno(e)
			}
			return true, interrupted, nil
		}
		if err := fn(data); err != nil {
			return true, interrupted, err
		}
	}
	return false, interrupted, nil
}
