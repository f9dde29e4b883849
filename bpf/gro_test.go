package bpf

import (
	"testing"

	"github.com/safchain/ethtool"

	"github.com/nettune/nettune/internal/lab"
)

// The one-ioctl GRO read agrees with ethtool's full feature read, GRO on and off.
func TestGROReader(t *testing.T) {
	_, b, v := pair(t, 1)
	for _, on := range []bool{true, false} {
		lab.SetFeature(t, b, v.BName, "rx-gro", on)
		b.Do(t, func() error {
			l, err := readGROLayout(v.BName)
			if err != nil {
				return err
			}
			g, err := newGROReader(l)
			if err != nil {
				return err
			}
			defer g.Close()
			got, err := g.on(v.BName)
			if err != nil {
				return err
			}
			et, err := ethtool.NewEthtool()
			if err != nil {
				return err
			}
			defer et.Close()
			f, err := et.Features(v.BName)
			if err != nil {
				return err
			}
			if got != on || f["rx-gro"] != on {
				t.Errorf("rx-gro set %v: read %v, ethtool says %v", on, got, f["rx-gro"])
			}
			return nil
		})
	}
}
