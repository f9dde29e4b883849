package live

import (
	"fmt"
	"strconv"

	tc "github.com/florianl/go-tc"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob"
)

// qdiscKnob is the limit of a pfifo (packets) or bfifo (bytes) qdisc.
type qdiscKnob struct {
	iface  string
	handle uint32
	ns     string
	// kind ("pfifo" or "bfifo": bfifo limits are bytes) and parent ("" for the root qdisc) are
	// learned on Read, for the cap and the command.
	kind, parent string
}

func newQdisc(id knob.ID, ns string, _ Env) backend {
	return &qdiscKnob{iface: id.Iface, handle: id.Handle, ns: ns}
}

// find returns the qdisc object with the knob's handle on the knob's interface.
func (k *qdiscKnob) find(fn func(t *tc.Tc, q tc.Object) error) error {
	target, err := netns.Open(k.ns)
	if err != nil {
		return err
	}
	defer target.Close()
	var ifindex int
	err = withHandle(k.ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(k.iface)
		if err != nil {
			return fmt.Errorf("link %s: %w", k.iface, err)
		}
		ifindex = l.Attrs().Index
		return nil
	})
	if err != nil {
		return err
	}
	cfg := &tc.Config{}
	if k.ns != "" { // setns needs CAP_SYS_ADMIN, even into the current namespace (withHandle)
		cfg.NetNS = int(target)
	}
	t, err := tc.Open(cfg)
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer t.Close()
	qs, err := t.Qdisc().Get()
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		if int(q.Ifindex) != ifindex || q.Handle != k.handle {
			continue
		}
		if q.Kind != "pfifo" && q.Kind != "bfifo" {
			return fmt.Errorf("%w: qdisc %s on %s is %s, only pfifo/bfifo limits are tuned",
				ErrUnsupported, knob.FormatHandle(k.handle), k.iface, q.Kind)
		}
		k.kind, k.parent = q.Kind, ""
		if q.Parent != tc.HandleRoot {
			k.parent = knob.FormatHandle(q.Parent)
		}
		return fn(t, q)
	}
	return fmt.Errorf("qdisc %s on %s: not found", knob.FormatHandle(k.handle), k.iface)
}

func fifo(q *tc.Object) *tc.FifoOpt {
	if q.Kind == "bfifo" {
		return q.Bfifo
	}
	return q.Pfifo
}

func (k *qdiscKnob) Read() (v string, err error) {
	err = k.find(func(_ *tc.Tc, q tc.Object) error {
		f := fifo(&q)
		if f == nil {
			return fmt.Errorf("qdisc %s on %s: no limit in the reply", knob.FormatHandle(k.handle), k.iface)
		}
		v = strconv.FormatUint(uint64(f.Limit), 10)
		return nil
	})
	return v, err
}

func (k *qdiscKnob) Write(v string) error {
	n, err := parseUint32(v)
	if err != nil {
		return fmt.Errorf("%w: qdisc limit %q", ErrBadValue, v)
	}
	return k.find(func(t *tc.Tc, q tc.Object) error {
		obj := tc.Object{
			Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: q.Ifindex, Handle: q.Handle, Parent: q.Parent},
			Attribute: tc.Attribute{Kind: q.Kind},
		}
		if q.Kind == "bfifo" {
			obj.Bfifo = &tc.FifoOpt{Limit: n}
		} else {
			obj.Pfifo = &tc.FifoOpt{Limit: n}
		}
		if err := t.Qdisc().Change(&obj); err != nil {
			return fmt.Errorf("change qdisc %s on %s limit %d: %w", knob.FormatHandle(k.handle), k.iface, n, err)
		}
		return nil
	})
}
