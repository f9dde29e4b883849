// Package netdev reads network interfaces in one network namespace: links with their
// stats64 (one rtnetlink dump), qdiscs with their statistics (one dump), and per link the
// ethtool driver name, -S counters (normalized per driver), rings and channels.
package netdev

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
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
	rtnl    nldump.Dumper // links and qdiscs
	ethtool ethtoolAPI
	noRing  map[string]bool // drivers without ring operations (see readEthtool)
	kinds   interner        // link and qdisc kinds
	nLinks  int             // links in the last dump: the next one is sized for as many
}

// Open opens the sockets in the calling thread's network namespace; call it on a locked
// OS thread inside the target namespace (internal/netns.Do).
func Open() (*Reader, error) {
	return OpenWith(nldump.OpenDumper, OpenEthtool)
}

// OpenWith is Open with the sockets opened by netlink and eth: the running kernel's
// (Open), or a recording's. The reader closes them.
func OpenWith(netlink nldump.Opener, eth func() (Ethtool, error)) (*Reader, error) {
	s, err := netlink(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	e, err := eth()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("ethtool socket: %w", err)
	}
	return &Reader{rtnl: s, ethtool: newEthtoolConn(e), noRing: map[string]bool{}, kinds: interner{}}, nil
}

// Close releases the sockets.
func (r *Reader) Close() error {
	r.ethtool.Close()
	return r.rtnl.Close()
}

// Links returns every link in ifindex order, or only the named ones in the order given
// (an unknown name is an error wrapping ErrNoLink). Each link has its stats64, settings,
// qdiscs and ethtool data; links that vanish while being read are left out. If ethtool
// reads failed for some links the result comes with a *PartialError.
func (r *Reader) Links(names []string) ([]model.Link, error) {
	links, err := r.Dump(names)
	if err != nil {
		return nil, err
	}
	return r.Complete(links, len(names) > 0)
}

// Dump is the first half of Links: the links with their stats64 and rtnetlink attributes,
// without qdiscs and ethtool data (Complete reads those).
func (r *Reader) Dump(names []string) ([]model.Link, error) {
	links, err := r.links()
	if err != nil {
		return nil, err
	}
	r.ethtool.Forget(links)
	if len(names) > 0 {
		return pick(links, names)
	}
	return links, nil
}

// Complete is the second half of Links: it reads the qdiscs and ethtool data of links from
// Dump. named: the links were asked for by name, and one that vanished is an error
// wrapping ErrNoLink.
func (r *Reader) Complete(links []model.Link, named bool) ([]model.Link, error) {
	if err := r.qdiscs(links); err != nil {
		return nil, err
	}
	growStack(len(links))
	var errs []error
	out := links[:0]
	for i := range links {
		err := readEthtool(r.ethtool, &links[i], r.noRing)
		if errors.Is(err, errGone) {
			if named {
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
func (r *Reader) links() ([]model.Link, error) {
	links := make([]model.Link, 0, r.nLinks)
	err := r.dump(unix.RTM_GETLINK, unix.SizeofIfInfomsg, func() { links = links[:0] }, func(m []byte) error {
		l, err := parseLink(m, r.kinds)
		if err != nil {
			return err
		}
		if len(links) == cap(links) {
			// Double: append grows large slices by about a quarter at a time, which for a
			// thousand links of 330 bytes allocates three times what it keeps.
			grown := make([]model.Link, len(links), max(2*len(links), 16))
			copy(grown, links)
			links = grown
		}
		links = append(links, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dump links: %w", err)
	}
	r.nLinks = len(links)
	// Kernels before 6.6 dump in hash order.
	slices.SortFunc(links, func(a, b model.Link) int { return a.Index - b.Index })
	return links, nil
}

// qdiscs dumps all qdiscs once and attaches them to their links.
func (r *Reader) qdiscs(links []model.Link) error {
	byIndex := make(map[int]*model.Link, len(links))
	for i := range links {
		byIndex[links[i].Index] = &links[i]
	}
	reset := func() {
		for i := range links {
			links[i].Qdiscs = nil
		}
	}
	err := r.dump(unix.RTM_GETQDISC, sizeofTcmsg, reset, func(m []byte) error {
		ifindex, q, err := parseQdisc(m, r.kinds)
		if err != nil {
			return err
		}
		l := byIndex[ifindex] // the dump covers every device: keep only the links read
		if l == nil {
			return nil
		}
		if q.Kind == "pfifo_fast" {
			q.Limit = uint32(l.TxQueueLen)
		}
		l.Qdiscs = append(l.Qdiscs, q)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dump qdiscs: %w", err)
	}
	return nil
}

// dump runs one rtnetlink dump of typ with an empty header of hdrLen bytes, passing each
// answer to fn. When the kernel flags it as interrupted (links or qdiscs changed while it
// ran) it is repeated once, after reset; a second inconsistent dump is still used.
func (r *Reader) dump(typ uint16, hdrLen int, reset func(), fn func([]byte) error) error {
	return r.dumpWith(typ, make([]byte, hdrLen), reset, fn)
}

// dumpWith is dump with the request's body given.
func (r *Reader) dumpWith(typ uint16, body []byte, reset func(), fn func([]byte) error) error {
	for try := range 2 {
		if try > 0 {
			reset()
		}
		intr, err := r.rtnl.Dump(typ, body, fn)
		if err != nil || !intr {
			return err
		}
	}
	return nil
}

// pick returns the named links in the order given.
func pick(links []model.Link, names []string) ([]model.Link, error) {
	byName := make(map[string]int, len(links))
	for i, l := range links {
		byName[l.Name] = i
	}
	out := make([]model.Link, 0, len(names))
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
