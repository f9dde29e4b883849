package policy

import (
	"errors"
	"fmt"
	"math"
)

// ErrConfig marks an invalid configuration value; callers map it to exit status 2.
var ErrConfig = errors.New("invalid config")

// Config bounds what the policy flags and proposes. Defaults come from docs/rules.md; values marked
// † there are engineering proposals and are here so an operator can change them.
type Config struct {
	Thresholds Thresholds      `mapstructure:"thresholds" json:"thresholds"`
	Caps       Caps            `mapstructure:"caps" json:"caps"`
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

// Caps are the highest values nettune will ever propose.
type Caps struct {
	NetdevMaxBacklog  int64   `mapstructure:"netdev_max_backlog" json:"netdev_max_backlog"`
	NetdevBudget      int64   `mapstructure:"netdev_budget" json:"netdev_budget"`
	NetdevBudgetUsecs int64   `mapstructure:"netdev_budget_usecs" json:"netdev_budget_usecs"`
	RmemMax           int64   `mapstructure:"rmem_max" json:"rmem_max"`         // bytes
	RmemDefault       int64   `mapstructure:"rmem_default" json:"rmem_default"` // bytes
	TCPRmemMax        int64   `mapstructure:"tcp_rmem_max" json:"tcp_rmem_max"` // bytes, tcp_rmem[2]
	UDPMemMaxPages    int64   `mapstructure:"udp_mem_max_pages" json:"udp_mem_max_pages"`
	TCPMemMaxPages    int64   `mapstructure:"tcp_mem_max_pages" json:"tcp_mem_max_pages"`
	Somaxconn         int64   `mapstructure:"somaxconn" json:"somaxconn"`
	IPFragHighThresh  int64   `mapstructure:"ipfrag_high_thresh" json:"ipfrag_high_thresh"` // bytes
	TxQueueLen        int64   `mapstructure:"txqueuelen" json:"txqueuelen"`
	QdiscLimit        int64   `mapstructure:"qdisc_limit" json:"qdisc_limit"`     // packets
	RingFraction      float64 `mapstructure:"ring_fraction" json:"ring_fraction"` // of the driver's maximum (1.0)
	FlowLimitTableLen int64   `mapstructure:"flow_limit_table_len" json:"flow_limit_table_len"`
	NfConntrackMax    int64   `mapstructure:"nf_conntrack_max" json:"nf_conntrack_max"` // entries, per netns
}

// DefaultConfig is what nettune uses with no config file.
func DefaultConfig() Config {
	return Config{
		Thresholds: Thresholds{MinRate: 1, MinRatio: 1e-4, ActRatio: 1e-3, CriticalRatio: 1e-2, SkewFactor: 4},
		Caps: Caps{
			NetdevMaxBacklog:  10000,
			NetdevBudget:      1200,  // 4 × 300
			NetdevBudgetUsecs: 32000, // 4 × 8000 (2 jiffies at HZ=250)
			RmemMax:           32 << 20,
			RmemDefault:       4 << 20,
			TCPRmemMax:        64 << 20,
			UDPMemMaxPages:    1 << 22, // 16 GiB of 4 KiB pages: a ceiling, udp_mem is raised in steps
			TCPMemMaxPages:    1 << 22, // same ceiling for tcp_mem
			Somaxconn:         65535,
			IPFragHighThresh:  64 << 20,
			TxQueueLen:        10000,
			QdiscLimit:        10000,
			RingFraction:      1.0,
			FlowLimitTableLen: 8192,
			NfConntrackMax:    1 << 22, // 16 × the largest kernel default (262144); ≈ 1.3 GB per full netns at 320 B an entry
		},
		Step: 2,
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
	for name, v := range map[string]int64{
		"caps.netdev_max_backlog": c.Caps.NetdevMaxBacklog, "caps.netdev_budget": c.Caps.NetdevBudget,
		"caps.netdev_budget_usecs": c.Caps.NetdevBudgetUsecs, "caps.rmem_max": c.Caps.RmemMax,
		"caps.rmem_default": c.Caps.RmemDefault, "caps.tcp_rmem_max": c.Caps.TCPRmemMax,
		"caps.udp_mem_max_pages": c.Caps.UDPMemMaxPages, "caps.tcp_mem_max_pages": c.Caps.TCPMemMaxPages,
		"caps.somaxconn":          c.Caps.Somaxconn,
		"caps.ipfrag_high_thresh": c.Caps.IPFragHighThresh, "caps.txqueuelen": c.Caps.TxQueueLen,
		"caps.qdisc_limit": c.Caps.QdiscLimit, "caps.flow_limit_table_len": c.Caps.FlowLimitTableLen,
		"caps.nf_conntrack_max": c.Caps.NfConntrackMax,
	} {
		if v <= 0 {
			return bad(name, "must be > 0")
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
