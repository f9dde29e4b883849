package policy

import (
	"errors"
	"fmt"
	"math"

	"github.com/nettune/nettune/knob"
)

// ErrConfig marks an invalid configuration value; callers map it to exit status 2.
var ErrConfig = errors.New("invalid config")

// Config bounds what the policy flags and proposes. Defaults come from docs/rules.md; values marked
// † there are engineering proposals and are here so an operator can change them.
type Config struct {
	Thresholds Thresholds      `mapstructure:"thresholds" json:"thresholds"`
	Caps       knob.Caps       `mapstructure:"caps" json:"caps"`
	Step       float64         `mapstructure:"step" json:"step"`   // multiplicative step per run (×2)
	Knobs      map[string]bool `mapstructure:"knobs" json:"knobs"` // knob ID prefix → allowed; absent = allowed
}

// Thresholds decide when a counter's movement is a finding.
type Thresholds struct {
	MinRate       float64 `mapstructure:"min_rate" json:"min_rate"`             // drops/s that count at all (1)
	MinRatio      float64 `mapstructure:"min_ratio" json:"min_ratio"`           // share of stage throughput (1e-4)
	ActRatio      float64 `mapstructure:"act_ratio" json:"act_ratio"`           // share that earns a plan action (1e-3)
	CriticalRatio float64 `mapstructure:"critical_ratio" json:"critical_ratio"` // share that is critical (1e-2)
	SkewFactor    float64 `mapstructure:"skew_factor" json:"skew_factor"`       // one CPU/queue above the others' mean × this = skew (4)
}

// DefaultConfig is what nettune uses with no config file.
func DefaultConfig() Config {
	return Config{
		Thresholds: Thresholds{MinRate: 1, MinRatio: 1e-4, ActRatio: 1e-3, CriticalRatio: 1e-2, SkewFactor: 4},
		Caps:       knob.DefaultCaps(),
		Step:       2,
	}
}

// Validate says which value is wrong and why.
func (c Config) Validate() error {
	bad := func(key, why string) error { return fmt.Errorf("%w: %s: %s", ErrConfig, key, why) }
	t := c.Thresholds
	switch {
	case t.MinRate < 0 || math.IsNaN(t.MinRate):
		return bad("thresholds.min_rate", "must be ≥ 0")
	case t.MinRatio < 0 || t.MinRatio > 1:
		return bad("thresholds.min_ratio", "must be between 0 and 1")
	case t.ActRatio < t.MinRatio || t.ActRatio > 1:
		return bad("thresholds.act_ratio", "must be between min_ratio and 1")
	case t.CriticalRatio < t.ActRatio || t.CriticalRatio > 1:
		return bad("thresholds.critical_ratio", "must be between act_ratio and 1")
	case t.SkewFactor < 1:
		return bad("thresholds.skew_factor", "must be ≥ 1")
	case c.Step <= 1 || c.Step > 16:
		return bad("step", "must be > 1 and ≤ 16")
	case c.Caps.RingFraction <= 0 || c.Caps.RingFraction > 1:
		return bad("caps.ring_fraction", "must be in (0, 1]")
	}
	for _, cp := range knob.IntCaps() {
		if c.Caps.Int(cp) <= 0 {
			return bad("caps."+cp.Key(), "must be > 0")
		}
	}
	return nil
}

// KnobAllowed reports whether the config permits proposing changes to this knob ID. The
// longest matching prefix in Knobs decides; no match means allowed.
func (c Config) KnobAllowed(id string) bool {
	best, allowed := -1, true
	for prefix, ok := range c.Knobs {
		if len(prefix) > best && len(id) >= len(prefix) && id[:len(prefix)] == prefix {
			best, allowed = len(prefix), ok
		}
	}
	return allowed
}
