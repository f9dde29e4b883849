package netdev

import (
	"errors"
	"slices"
	"testing"

	"github.com/safchain/ethtool"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// The reader's ethtool (ioctlEthtool and its plans) reads what the library reads (driver
// info, channels, -S), asks for names once per string set, and shares their plan between
// veths only when their queue counts agree.
func TestEthtoolConnMatchesLibrary(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v4 := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 4})
	v4b := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 4})
	v1 := lab.NewVeth(t, a, b, lab.VethOpts{})
	a.Do(t, func() error {
		dev, err := OpenEthtool()
		if err != nil {
			return err
		}
		c := newEthtoolConn(dev)
		defer c.Close()
		lib, err := ethtool.NewEthtool()
		if err != nil {
			return err
		}
		defer lib.Close()

		wantSets := 2
		for i, name := range []string{v4.AName, v4b.AName, v1.AName} {
			info, err := lib.DriverInfo(name)
			if err != nil {
				return err
			}
			if got, err := c.DriverInfo(name); err != nil || got.Driver != info.Driver || got.NStats != info.NStats {
				t.Errorf("%s: ethtoolConn driver info %+v %v, library %+v", name, got, err, info)
			}
			var queues *model.Channels
			switch ch, err := lib.GetChannels(name); {
			case err == nil:
				if got, err := c.GetChannels(name); err != nil || got != ch {
					t.Errorf("%s: ethtoolConn channels %+v %v, library %+v", name, got, err, ch)
				}
				queues = &model.Channels{Rx: ch.RxCount, Tx: ch.TxCount}
			case kernelBefore(t, 6, 1): // seen on 5.10: no sharing without queue counts
				wantSets = 3
			default:
				return err
			}
			k := statsKeyOf(100+i, info.Driver, info.NStats, queues)
			got, err := c.Counters(name, k)
			if err != nil {
				return err
			}
			stats, err := lib.Stats(name) // no traffic: the values stand still
			if err != nil {
				return err
			}
			if want := Normalize(info.Driver, stats); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: ethtoolConn %v, library %v", name, got, want)
			}
		}
		if len(c.plans) != wantSets {
			t.Errorf("%d string sets cached, want %d", len(c.plans), wantSets)
		}
		c.plans[statsKey{ifindex: 99, driver: "mlx5_core", n: 1}] = nil
		c.Forget([]model.Link{{Index: 100}, {Index: 101}, {Index: 102}})
		if len(c.plans) != wantSets {
			t.Errorf("plan of a link that is gone kept: %d string sets, want %d", len(c.plans), wantSets)
		}

		if _, err := c.Counters("nosuchlink0", statsKey{n: 1}); !errors.Is(err, unix.ENODEV) {
			t.Errorf("missing link: err = %v, want ENODEV", err)
		}
		if _, err := c.Counters(v1.AName, statsKey{n: 1}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("wrong count: err = %v, want ErrUnavailable", err)
		}
		return nil
	})
}
