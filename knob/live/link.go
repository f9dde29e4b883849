package live

import (
	"fmt"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob"
)

// withHandle gives fn a netlink handle bound to namespace ns. The current namespace ("") gets
// a plain socket: a handle bound to a namespace enters it with setns, which needs
// CAP_SYS_ADMIN even for the namespace nettune already runs in (configs/nettune.service has
// only CAP_NET_ADMIN).
func withHandle(ns string, fn func(h *netlink.Handle) error) error {
	if ns == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
		return fn(h)
	}
	target, err := netns.Open(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	h, err := netlink.NewHandleAt(target)
	if err != nil {
		return fmt.Errorf("netlink in netns %q: %w", ns, err)
	}
	defer h.Close()
	return fn(h)
}

type txqlenKnob struct{ iface, ns string }

func newTxQLen(id knob.ID, ns string, _ Env) backend { return &txqlenKnob{iface: id.Iface, ns: ns} }

func (k *txqlenKnob) Read() (v string, err error) {
	err = withHandle(k.ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(k.iface)
		if err != nil {
			return fmt.Errorf("link %s: %w", k.iface, err)
		}
		v = strconv.Itoa(l.Attrs().TxQLen)
		return nil
	})
	return v, err
}

func (k *txqlenKnob) Write(v string) error {
	n, err := parseUint32(v)
	if err != nil {
		return fmt.Errorf("%w: txqueuelen %q", ErrBadValue, v)
	}
	return withHandle(k.ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(k.iface)
		if err != nil {
			return fmt.Errorf("link %s: %w", k.iface, err)
		}
		if err := h.LinkSetTxQLen(l, int(n)); err != nil {
			return fmt.Errorf("set txqueuelen %s %d: %w", k.iface, n, err)
		}
		return nil
	})
}
