// Package netdev reads network interfaces in one network namespace: links with their
// stats64 (one rtnetlink dump), qdiscs with their statistics (one dump), and per link the
// ethtool driver name, -S counters (raw and normalized per driver), rings and channels.
package netdev

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/tuner/sample"
)

// ErrNoLink is returned (wrapped) when a requested interface does not exist.
var ErrNoLink = errors.New("no such interface")

// PartialError is returned together with the links when some ethtool reads failed: the
// links are complete except for the parts named, which are left empty, never zero-filled.
// Callers list Errs as missing evidence instead of failing the sample.
type PartialError struct {
	Errs []error
}

func (e *PartialError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *PartialError) Unwrap() []error { return e.Errs }

// Reader holds the sockets of one network namespace: the one it was opened in, whatever
// thread later uses it. It is not safe for concurrent use.
type Reader struct {
	rtnl    map[int]*nl.SocketHandle // links and qdiscs
	ethtool ethtoolAPI
	noRing  map[string]bool // drivers without ring operations (see readEthtool)
}

// Open opens the sockets in the calling thread's network namespace; call it on a locked
// OS thread inside the target namespace (tuner/netns.Do).
func Open() (*Reader, error) {
	s, err := nl.GetNetlinkSocketAt(vnetns.None(), vnetns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	e, err := newEthtoolConn()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("ethtool socket: %w", err)
	}
	return &Reader{rtnl: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}, ethtool: e,
		noRing: map[string]bool{}}, nil
}

// Close releases the sockets.
func (r *Reader) Close() error {
	r.ethtool.Close()
	r.rtnl[unix.NETLINK_ROUTE].Close()
	return nil
}

// Links returns every link in ifindex order, or only the named ones in the order given
// (an unknown name is an error wrapping ErrNoLink). Each link has its stats64, settings,
// qdiscs and ethtool data; links that vanish while being read are left out. If ethtool
// reads failed for some links the result comes with a *PartialError.
func (r *Reader) Links(names []string) ([]sample.Link, error) {
	links, err := r.links()
	if err != nil {
		return nil, err
	}
	if len(names) > 0 {
		if links, err = pick(links, names); err != nil {
			return nil, err
		}
	}
	if err := r.qdiscs(links); err != nil {
		return nil, err
	}

	growStack(len(links))
	var errs []error
	out := links[:0]
	for i := range links {
		err := readEthtool(r.ethtool, &links[i], r.noRing)
		if errors.Is(err, errGone) {
			if len(names) > 0 {
				return nil, fmt.Errorf("link %s: %w", links[i].Name, ErrNoLink)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, links[i])
	}
	if len(errs) > 0 {
		return out, &PartialError{Errs: errs}
	}
	return out, nil
}

// links dumps all links.
func (r *Reader) links() ([]sample.Link, error) {
	msgs, err := r.dump(unix.RTM_GETLINK, unix.RTM_NEWLINK, make([]byte, unix.SizeofIfInfomsg))
	if err != nil {
		return nil, fmt.Errorf("dump links: %w", err)
	}
	links := make([]sample.Link, 0, len(msgs))
	for _, m := range msgs {
		l, err := parseLink(m)
		if err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	// Kernels before 6.6 dump in hash order.
	slices.SortFunc(links, func(a, b sample.Link) int { return a.Index - b.Index })
	return links, nil
}

// qdiscs dumps all qdiscs once and attaches them to their links.
func (r *Reader) qdiscs(links []sample.Link) error {
	msgs, err := r.dump(unix.RTM_GETQDISC, unix.RTM_NEWQDISC, make([]byte, sizeofTcmsg))
	if err != nil {
		return fmt.Errorf("dump qdiscs: %w", err)
	}
	byIndex := make(map[int]*sample.Link, len(links))
	for i := range links {
		byIndex[links[i].Index] = &links[i]
	}
	for _, m := range msgs {
		ifindex, q, err := parseQdisc(m)
		if err != nil {
			return err
		}
		l := byIndex[ifindex] // the dump covers every device: keep only the links read
		if l == nil {
			continue
		}
		if q.Kind == "pfifo_fast" {
			q.Limit = uint32(l.TxQueueLen)
		}
		l.Qdiscs = append(l.Qdiscs, q)
	}
	return nil
}

// dump runs one rtnetlink dump and returns the bodies of the messages of type want.
// When the kernel flags it as interrupted (links or qdiscs changed while it ran) it is
// repeated once; a second inconsistent dump is still used.
//
// vishvananda/netlink reads with a 64 KiB buffer and no helper goroutine: the kernel then
// fills each read with up to 32 KiB of messages, and a dump of 1 000 links takes about
// 50 reads. (mdlayher/netlink peeks and reads each page-sized batch and starts a goroutine
// per read, which on the locked namespace thread cost a thread hand-off each time.)
func (r *Reader) dump(typ, want uint16, body []byte) ([][]byte, error) {
	var msgs [][]byte
	for range 2 {
		req := nl.NewNetlinkRequest(int(typ), unix.NLM_F_DUMP)
		req.Sockets = r.rtnl
		req.AddRawData(body)
		var err error
		msgs, err = req.Execute(unix.NETLINK_ROUTE, want)
		if !errors.Is(err, nl.ErrDumpInterrupted) {
			return msgs, err
		}
	}
	return msgs, nil
}

// pick returns the named links in the order given.
func pick(links []sample.Link, names []string) ([]sample.Link, error) {
	byName := make(map[string]int, len(links))
	for i, l := range links {
		byName[l.Name] = i
	}
	out := make([]sample.Link, 0, len(names))
	for _, n := range names {
		i, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("link %s: %w", n, ErrNoLink)
		}
		out = append(out, links[i])
	}
	return out, nil
}

// growStack grows the goroutine stack once before the ethtool ioctls, so that the stack
// does not move while safchain/ethtool has handed the kernel a stack address as uintptr
// (the kernel would write into the old stack). Results are still validated.
//
//go:noinline
func growStack(i int) byte {
	var buf [64 << 10]byte
	buf[i%len(buf)] = 1 // a variable index keeps the array on the stack frame
	return buf[(i+1)%len(buf)]
}
