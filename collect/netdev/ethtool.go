package netdev

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// ErrUnavailable marks ethtool data the driver supports but that could not be read: it is
// reported as missing, never as zero.
var ErrUnavailable = errors.New("ethtool data unavailable")

// Ethtool answers the ethtool requests the reader makes of a namespace's devices: ioctls on
// the running kernel (OpenEthtool), or a recording of their answers.
type Ethtool interface {
	// DriverInfo fills Driver and NStats only (ETHTOOL_GDRVINFO).
	DriverInfo(intf string) (ethtool.DrvInfo, error)
	Ring(intf string) (ethtool.Ring, error)         // ETHTOOL_GRINGPARAM
	Channels(intf string) (ethtool.Channels, error) // ETHTOOL_GCHANNELS
	// StatNames returns the n names of the ETH_SS_STATS string set.
	StatNames(intf string, n uint32) ([]string, error)
	// Stats returns the n values of ETHTOOL_GSTATS, valid until the next call. A count
	// other than n (the set changed) is ErrUnavailable.
	Stats(intf string, n uint32) ([]uint64, error)
	Close()
}

// ethtoolAPI is what the reader reads per link (ethtoolConn); tests substitute a fake to
// exercise the validation below.
type ethtoolAPI interface {
	DriverInfo(intf string) (ethtool.DrvInfo, error)           // driver name and statistics count only
	Counters(intf string, k statsKey) ([]model.Counter, error) // normalized -S
	// Forget drops what was kept for links not in live (sorted by index).
	Forget(live []model.Link)
	GetRing(intf string) (ethtool.Ring, error)
	GetChannels(intf string) (ethtool.Channels, error)
	Close()
}

// ethtoolConn reads -S through a plan per string set: the names are asked for, and
// planned, once per string set (statsKey); a set of which nettune understands no name is
// not read at all.
type ethtoolConn struct {
	dev   Ethtool
	plans map[statsKey]*plan
}

func newEthtoolConn(dev Ethtool) *ethtoolConn {
	return &ethtoolConn{dev: dev, plans: map[statsKey]*plan{}}
}

func (c *ethtoolConn) DriverInfo(intf string) (ethtool.DrvInfo, error) { return c.dev.DriverInfo(intf) }

func (c *ethtoolConn) GetRing(intf string) (ethtool.Ring, error) { return c.dev.Ring(intf) }

func (c *ethtoolConn) GetChannels(intf string) (ethtool.Channels, error) { return c.dev.Channels(intf) }

func (c *ethtoolConn) Close() { c.dev.Close() }

// Counters returns the normalized -S counters of link intf, whose string set k describes.
func (c *ethtoolConn) Counters(intf string, k statsKey) ([]model.Counter, error) {
	if k.n > ethtool.MAX_GSTRINGS {
		return nil, fmt.Errorf("%d statistics: more than %d", k.n, ethtool.MAX_GSTRINGS)
	}
	p, ok := c.plans[k]
	if !ok {
		names, err := c.dev.StatNames(intf, k.n)
		if err != nil {
			return nil, err
		}
		p = planFor(k.driver, names)
		c.plans[k] = p
	}
	if p == nil {
		return nil, nil
	}
	values, err := c.dev.Stats(intf, k.n)
	if err != nil {
		return nil, err
	}
	return p.fill(values), nil
}

// Forget drops the plans kept for links not in live (sorted by index): where devices come
// and go (VF representors, one per pod), per-link plans would otherwise pile up for the
// process's life.
func (c *ethtoolConn) Forget(live []model.Link) {
	for k := range c.plans {
		if k.ifindex == 0 {
			continue
		}
		_, ok := slices.BinarySearchFunc(live, k.ifindex, func(l model.Link, i int) int { return cmp.Compare(l.Index, i) })
		if !ok {
			delete(c.plans, k)
		}
	}
}

// errGone reports that the interface disappeared between the link dump and the ioctl.
var errGone = errors.New("link gone")

// readEthtool fills Driver, Ring, Channels and Counters of l (channels before
// -S: veth's statistic names follow from its queue counts). Operations the driver lacks
// (EOPNOTSUPP: veth rings, lo) leave their fields empty without error.
//
// safchain/ethtool v0.7.0 passes stack addresses to the kernel as uintptr, so a stack move
// during the call makes it return an empty result with a nil error. The ring, the one
// result still read through the library, is validated and, when it is impossible, read
// once more; a second impossible result is reported as ErrUnavailable. (Driver info,
// channels and -S are read by ioctlEthtool, which has no such bug.)
//
// noRing (may be nil) remembers drivers whose ring query was refused with EOPNOTSUPP: ring
// support is a property of the driver's ethtool_ops, so one refusal answers for every link
// of that driver (1 000 veths: 1 000 ioctls fewer per sample).
func readEthtool(e ethtoolAPI, l *model.Link, noRing map[string]bool) error {
	var errs []error
	fail := func(what string, err error) {
		errs = append(errs, fmt.Errorf("%s: ethtool %s: %w", l.Name, what, err))
	}

	info, err := e.DriverInfo(l.Name)
	switch {
	case err == nil:
		l.Driver = info.Driver
	case errors.Is(err, unix.ENODEV):
		return errGone
	case !unsupported(err):
		fail("driver info", err)
	}

	var ring ethtool.Ring
	err = unix.EOPNOTSUPP
	if l.Driver == "" || !noRing[l.Driver] {
		ring, err = retry(func() (ethtool.Ring, error) { return e.GetRing(l.Name) },
			func(r ethtool.Ring) bool { return r.RxMaxPending != 0 })
		if unsupported(err) && l.Driver != "" && noRing != nil {
			noRing[l.Driver] = true
		}
	}
	switch {
	case err == nil:
		l.Ring = &model.Ring{Rx: ring.RxPending, Tx: ring.TxPending,
			RxMax: ring.RxMaxPending, TxMax: ring.TxMaxPending}
	case errors.Is(err, unix.ENODEV):
		return errGone
	case !unsupported(err):
		fail("-g", err)
	}

	ch, err := e.GetChannels(l.Name)
	switch {
	case err == nil:
		l.Channels = &model.Channels{Rx: ch.RxCount, Tx: ch.TxCount, Combined: ch.CombinedCount,
			MaxRx: ch.MaxRx, MaxTx: ch.MaxTx, MaxCombined: ch.MaxCombined}
	case errors.Is(err, unix.ENODEV):
		return errGone
	case !unsupported(err):
		fail("-l", err)
	}
	// The driver info says how many statistics there are: without it there is no -S, and
	// a driver that lists none (NStats 0) rightly has an empty set. Without a table for the
	// driver no counter could be normalized: -S is not read.
	if info.NStats > 0 && drivers[l.Driver] != nil {
		cs, err := e.Counters(l.Name, statsKeyOf(l.Index, l.Driver, info.NStats, l.Channels))
		switch {
		case err == nil:
			l.Counters = cs
		case errors.Is(err, unix.ENODEV):
			return errGone
		case !unsupported(err):
			fail("-S", err)
		}
	}
	return errors.Join(errs...)
}

// retry calls read until valid accepts its result, at most twice.
func retry[T any](read func() (T, error), valid func(T) bool) (T, error) {
	var v T
	for range 2 {
		var err error
		if v, err = read(); err != nil {
			return v, err
		}
		if valid(v) {
			return v, nil
		}
	}
	return v, fmt.Errorf("%w: empty result twice", ErrUnavailable)
}

// unsupported reports that the driver does not implement the operation.
func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP)
}

// RxQueueBound is how many rx-N queue directories sysfs can show for l: the real count
// where the driver reports it exactly in ethtool -l (veth_get_channels: rx_count is
// real_num_rx_queues), else the allocated count, which veth sets to the number of possible
// CPUs. Readers of rx-N stop at the first missing one either way; the bound spares them
// one failed sysfs lookup per veth.
func RxQueueBound(l *model.Link) int {
	if l.Driver == "veth" && l.Channels != nil && l.Channels.Rx > 0 {
		return int(l.Channels.Rx)
	}
	return l.NumRxQ
}
