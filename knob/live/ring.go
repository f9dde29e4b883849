package live

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob"
)

// RingBackend is ethtool -g / -G for one interface of one namespace. Tests use a fake; the
// real one is EthtoolRing.
type RingBackend interface {
	GetRing(ns, iface string) (ethtool.Ring, error)
	SetRing(ns, iface string, r ethtool.Ring) error
}

// EthtoolRing issues the ring ioctls from a socket created inside the namespace (the socket
// belongs to the namespace it was created in).
type EthtoolRing struct{}

func (EthtoolRing) GetRing(ns, iface string) (r ethtool.Ring, err error) {
	err = withEthtool(ns, func(e *ethtool.Ethtool) error {
		r, err = e.GetRing(iface)
		return err
	})
	return r, err
}

func (EthtoolRing) SetRing(ns, iface string, r ethtool.Ring) error {
	return withEthtool(ns, func(e *ethtool.Ethtool) error {
		_, err := e.SetRing(iface, r)
		return err
	})
}

func withEthtool(ns string, fn func(*ethtool.Ethtool) error) error {
	err := netns.Do(ns, func() error {
		e, err := ethtool.NewEthtool()
		if err != nil {
			return err
		}
		defer e.Close()
		return fn(e)
	})
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return err
}

type ringKnob struct {
	iface string
	tx    bool
	ns    string
	be    RingBackend
}

func newRing(id knob.ID, ns string, env Env) backend {
	return &ringKnob{iface: id.Iface, tx: id.TX, ns: ns, be: env.Ring}
}

func (k *ringKnob) dir() string {
	if k.tx {
		return "tx"
	}
	return "rx"
}

// get reads the ring and rejects empty results: safchain/ethtool v0.7.0 can return a zeroed
// struct with a nil error, and a maximum of 0 is never a real ring.
func (k *ringKnob) get() (ethtool.Ring, error) {
	r, err := k.be.GetRing(k.ns, k.iface)
	if err != nil {
		return r, fmt.Errorf("ring %s: %w", k.iface, err)
	}
	if (k.tx && r.TxMaxPending == 0) || (!k.tx && r.RxMaxPending == 0) {
		return r, fmt.Errorf("ring %s: empty result from the driver", k.iface)
	}
	return r, nil
}

func (k *ringKnob) pending(r ethtool.Ring) (cur, maxv uint32) {
	if k.tx {
		return r.TxPending, r.TxMaxPending
	}
	return r.RxPending, r.RxMaxPending
}

func (k *ringKnob) Read() (string, error) {
	r, err := k.get()
	if err != nil {
		return "", err
	}
	cur, _ := k.pending(r)
	return strconv.FormatUint(uint64(cur), 10), nil
}

func (k *ringKnob) Max() (int64, error) {
	r, err := k.get()
	if err != nil {
		return 0, err
	}
	_, m := k.pending(r)
	return int64(m), nil
}

// Write does GetRing → modify → SetRing → GetRing: SetRing sends every field, so the other
// fields must be the driver's current ones.
func (k *ringKnob) Write(v string) error {
	n, err := parseUint32(v)
	if err != nil {
		return fmt.Errorf("%w: ring size %q", ErrBadValue, v)
	}
	r, err := k.get()
	if err != nil {
		return err
	}
	if _, m := k.pending(r); n > m {
		return fmt.Errorf("%w: %s ring %d above the driver maximum %d", ErrBadValue, k.dir(), n, m)
	}
	if k.tx {
		r.TxPending = n
	} else {
		r.RxPending = n
	}
	if err := k.be.SetRing(k.ns, k.iface, r); err != nil {
		return fmt.Errorf("set ring %s %s %d: %w", k.iface, k.dir(), n, err)
	}
	_, err = k.get()
	return err
}
