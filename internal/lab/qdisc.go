package lab

import (
	"errors"
	"fmt"
	"net"
	"testing"

	tc "github.com/florianl/go-tc"
	"github.com/florianl/go-tc/core"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
)

// SetQdisc replaces the root qdisc of link in ns with a pfifo (limit in packets) or bfifo
// (limit in bytes) through netlink, and deletes it at cleanup so the kernel reinstates the
// device's default root qdisc (noqueue on veth). Skips when the kernel lacks the qdisc.
func SetQdisc(t testing.TB, ns *NS, link, kind string, limit int) {
	t.Helper()
	if err := setQdisc(t, ns, link, kind, limit); err != nil {
		fatalOrSkip(t, err)
	}
}

func setQdisc(t testing.TB, ns *NS, link, kind string, limit int) error {
	ifindex, err := linkIndex(ns, link)
	if err != nil {
		return fmt.Errorf("qdisc on %s: %w", link, err)
	}
	root, err := fifo(ifindex, tc.HandleRoot, 0x10000, kind, limit) // 1:
	if err != nil {
		return err
	}
	return replaceRoot(t, ns, link, root)
}

// SetShaper replaces the root qdisc of link in ns with a token bucket (tbf 1:) of rate
// bytes/s and a burst of two 1514-byte frames, whose queue is a pfifo or bfifo (10:) of the
// given limit. Bursts faster than the rate then overflow the fifo: a qdisc drop that a larger
// limit removes as long as the average load stays below the rate. Deleted at cleanup like
// SetQdisc. Skips when the kernel lacks tbf or the fifo.
func SetShaper(t testing.TB, ns *NS, link string, rate int, kind string, limit int) {
	t.Helper()
	if err := setShaper(t, ns, link, rate, kind, limit); err != nil {
		fatalOrSkip(t, err)
	}
}

// ShaperFifo is the handle (10:) of the fifo under SetShaper's tbf.
const ShaperFifo = 0x100000

func setShaper(t testing.TB, ns *NS, link string, rate int, kind string, limit int) error {
	ifindex, err := linkIndex(ns, link)
	if err != nil {
		return fmt.Errorf("shaper on %s: %w", link, err)
	}
	child, err := fifo(ifindex, 0x10001, ShaperFifo, kind, limit) // parent 1:1, tbf's only class
	if err != nil {
		return err
	}
	if err := core.InitializeClock(); err != nil { // go-tc's rate table needs /proc/net/psched
		return fmt.Errorf("shaper on %s: %w", link, err)
	}
	burst := uint32(2 * 1514)
	root := tc.Object{Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex, Parent: tc.HandleRoot, Handle: 0x10000},
		Attribute: tc.Attribute{Kind: "tbf", Tbf: &tc.Tbf{Burst: &burst, Parms: &tc.TbfQopt{
			Rate: tc.RateSpec{Rate: uint32(rate), Linklayer: 1 /* ethernet */}, Mtu: 1514,
			Limit: 10 * 1514, // tbf's own bfifo, replaced by child right away
		}}}}
	if err := replaceRoot(t, ns, link, root); err != nil {
		return err
	}
	err = withTC(ns, func(c *tc.Tc) error { return c.Qdisc().Replace(&child) })
	if errors.Is(err, unix.ENOENT) {
		err = errors.Join(ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("%s limit %d under tbf on %s: %w", kind, limit, link, err)
	}
	return nil
}

func fifo(ifindex, parent, handle uint32, kind string, limit int) (tc.Object, error) {
	q := tc.Object{Msg: tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex, Parent: parent, Handle: handle}}
	opt := &tc.FifoOpt{Limit: uint32(limit)}
	switch kind {
	case "pfifo":
		q.Attribute = tc.Attribute{Kind: kind, Pfifo: opt}
	case "bfifo":
		q.Attribute = tc.Attribute{Kind: kind, Bfifo: opt}
	default:
		return q, fmt.Errorf("qdisc %s: only pfifo and bfifo", kind)
	}
	return q, nil
}

// replaceRoot installs q as link's root qdisc and deletes it at cleanup, which makes the
// kernel reinstate the device's default.
func replaceRoot(t testing.TB, ns *NS, link string, q tc.Object) error {
	err := withTC(ns, func(c *tc.Tc) error { return c.Qdisc().Replace(&q) })
	if errors.Is(err, unix.ENOENT) {
		err = errors.Join(ErrUnsupported, err)
	}
	if err != nil {
		return fmt.Errorf("root %s on %s: %w", q.Kind, link, err)
	}
	t.Cleanup(func() {
		err := withTC(ns, func(c *tc.Tc) error { return c.Qdisc().Delete(&q) })
		if err != nil && !errors.Is(err, netns.ErrNotFound) {
			t.Errorf("delete %s on %s: %v", q.Kind, link, err)
		}
	})
	return nil
}

// withTC runs fn with a go-tc rtnetlink socket opened inside ns.
func withTC(ns *NS, fn func(*tc.Tc) error) error {
	h, err := netns.Open(ns.name())
	if err != nil {
		return err
	}
	defer h.Close()
	c, err := tc.Open(&tc.Config{NetNS: int(h)})
	if err != nil {
		return fmt.Errorf("rtnetlink in %s: %w", ns.name(), err)
	}
	defer c.Close()
	return fn(c)
}

func linkIndex(ns *NS, link string) (uint32, error) {
	var idx uint32
	err := netns.Do(ns.name(), func() error {
		ifi, err := net.InterfaceByName(link)
		if err == nil {
			idx = uint32(ifi.Index)
		}
		return err
	})
	return idx, err
}
