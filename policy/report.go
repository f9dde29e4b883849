// Package policy turns a Delta into a funnel, findings and a bounded plan. It is pure: no
// I/O, no clock, no randomness, so every rule is tested with tables.
package policy

import (
	"fmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Severity orders findings; higher is worse.
type Severity int

const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityCritical:
		return "critical"
	case SeverityWarning:
		return "warning"
	}
	return "info"
}

// MarshalText makes severities readable in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote, so a report read back from JSON (tests of the
// commands' output) has its severities.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, x := range []Severity{SeverityInfo, SeverityWarning, SeverityCritical} {
		if x.String() == string(b) {
			*s = x
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", b)
}

// Report is everything advise says about one interval.
type Report struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	Netns           string  `json:"netns,omitempty"`
	// Findings are in the verdict's order: capacity loss first, then by severity and drop
	// rate (docs/rules.md §8.2).
	Findings []Finding `json:"findings"`
	Plan     []Action  `json:"plan"` // in the order to apply
	Funnel   []Funnel  `json:"funnel"`
	// Advice is what nettune will not change but a person should know (admin-owned
	// settings, application fixes, non-tuning causes).
	Advice []string `json:"advice,omitempty"`
	// Attribution is drops confirmed by kfree_skb reasons ÷ the counter drops of the findings
	// they confirm (counters are the totals; docs/rules.md §6 measured a small BPF shortfall).
	// nil when no in-path reason matched a counter finding. Renderers publish it with the
	// report's metadata (bpf_attribution), hence no JSON name here.
	Attribution *float64 `json:"-"`
	// Missing names evidence that could not be read this time.
	Missing []string `json:"missing,omitempty"`
	// Unmeasured names the core counters absent from either sample: loss at their stages
	// cannot show, so a report without findings is no evidence of no loss.
	Unmeasured []string `json:"unmeasured,omitempty"`
}

// Loss reports whether any finding is loss (capacity or policy drops), which sets exit status 1.
func (r *Report) Loss() bool {
	for _, f := range r.Findings {
		if f.Severity >= SeverityWarning && f.Class == stage.ClassCapacity {
			return true
		}
	}
	return false
}

// Finding is one population of drops (or pressure): the packets lost at one place of the
// path — a stage, and where on it: interface, CPU, netns or host, and the part of the stage
// (a netfilter hook, the conntrack table, a group of qdiscs) — during the interval. Every
// source that saw those drops (counters, drop reasons, rule counters) is its evidence.
type Finding struct {
	// ID is stable within a report: "<stage>/<netns or host>[/<iface>][/<part>][/cpuN]".
	ID        string      `json:"id"`
	Stage     stage.Stage `json:"stage"`
	Class     stage.Class `json:"class"`
	Severity  Severity    `json:"severity"`
	Interface string      `json:"interface,omitempty"` // "" for host- or netns-wide stages
	Netns     string      `json:"netns,omitempty"`
	Queue     *int        `json:"queue,omitempty"`
	CPU       *int        `json:"cpu,omitempty"`
	// Hook is the netfilter hook of a netfilter finding, when known.
	Hook     stage.Hook   `json:"hook,omitempty"`
	Summary  string       `json:"summary"`   // one sentence a person can act on
	DropRate float64      `json:"drop_rate"` // packets/s lost at this stage
	Ratio    float64      `json:"ratio"`     // drops ÷ the traffic that reached the stage
	Evidence []Evidence   `json:"evidence"`
	Reasons  []DropReason `json:"reasons,omitempty"` // kfree_skb reasons behind it
	// Rules are the firewall rules that dropped these packets, or the candidates when the
	// kernel cannot tell which one did.
	Rules []FirewallRule `json:"rules,omitempty"`
	// Checked names the counters consulted for drops that only in-path drop reasons show.
	Checked []string `json:"checked,omitempty"`
	Knobs   []string `json:"knobs,omitempty"` // knob IDs that address it
	// Sockets are the sockets behind a socket-level finding, most drops first, at most
	// MaxSockets; SocketsOmitted counts the others. Their owners are named after the policy.
	Sockets        []Socket `json:"sockets,omitempty"`
	SocketsOmitted int      `json:"sockets_omitted,omitempty"`
	// Peer is the other end of the veth the finding is on, in another namespace of the
	// node: a pod's loss and its host-side veth's are one path. Filled after the policy,
	// for a node's results only.
	Peer *LinkPeer `json:"peer,omitempty"`
}

// LinkPeer is the other end of a veth, in another network namespace.
type LinkPeer struct {
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"`
	NetnsIno  uint64 `json:"netns_ino"`
	Host      bool   `json:"host,omitempty"`  // the host's namespace
	Netns     string `json:"netns,omitempty"` // its path, as its findings' netns say it; absent for the host
	Pod       string `json:"pod,omitempty"`   // "namespace/name" when the namespace is a pod's
}

// FirewallRule names one nftables rule (or a chain's drop policy, Handle 0) behind a
// netfilter finding.
type FirewallRule struct {
	Family string     `json:"family"`
	Table  string     `json:"table"`
	Chain  string     `json:"chain"`
	Hook   stage.Hook `json:"hook,omitempty"`
	Handle uint64     `json:"handle,omitempty"` // 0: the chain's policy, not a rule
	Expr   string     `json:"expr"`             // the rule as nft prints it, or "policy drop"
	// Packets is what the rule's counter counted in the interval, when it has one.
	Packets *uint64 `json:"packets,omitempty"`
}

// Evidence is one counter's movement during the interval.
type Evidence struct {
	Counter string  `json:"counter"` // "Udp.RcvbufErrors", "softnet.dropped[cpu1]", "eth0 rx_missed_errors"
	Delta   uint64  `json:"delta"`
	Rate    float64 `json:"rate"`
	Of      string  `json:"of,omitempty"`    // the throughput counter the ratio is taken against
	Ratio   float64 `json:"ratio,omitempty"` // Delta ÷ Δ(Of)
	Note    string  `json:"note,omitempty"`  // skew, caveat
}

// DropReason is kfree_skb drops attributed to one reason and location.
type DropReason struct {
	Reason   string  `json:"reason"`
	Location string  `json:"location,omitempty"`
	Count    uint64  `json:"count"`
	Rate     float64 `json:"rate"`
}

// Action is one step of the plan.
type Action struct {
	Knob        string      `json:"knob"` // stable knob ID: sysctl:net.core.netdev_max_backlog
	Netns       string      `json:"netns,omitempty"`
	Current     string      `json:"current"`
	Proposed    string      `json:"proposed"`
	Command     string      `json:"command"` // the shell equivalent
	MemoryBytes int64       `json:"memory_bytes,omitempty"`
	Risk        string      `json:"risk"`
	Scope       model.Scope `json:"scope"`
	Disruptive  bool        `json:"disruptive"`
	AtCap       bool        `json:"at_cap,omitempty"` // already at the configured cap: advice only
	Findings    []string    `json:"findings"`         // finding IDs it answers
	Why         string      `json:"why"`
	// SettleSeconds is how long the change takes to show in the counters: loss measured
	// sooner still reflects the old value (reassembly memory is held up to ipfrag_time).
	// Auto mode judges the change only on intervals that start this long after it.
	SettleSeconds int `json:"settle_seconds,omitempty"`
}

// Funnel is the per-stage account of one interface (or of the netns-wide socket layer when
// Interface is "").
type Funnel struct {
	Interface string        `json:"interface,omitempty"`
	Netns     string        `json:"netns,omitempty"`
	Queue     *int          `json:"queue,omitempty"`
	Dir       string        `json:"dir"` // rx or tx
	Stages    []FunnelStage `json:"stages"`
}

// FunnelStage is one row: packets entering a stage, leaving it, drops a counter or drop
// reason explains, and the residual nobody explains (entered − left − dropped).
type FunnelStage struct {
	Stage    stage.Stage `json:"stage"`
	Point    string      `json:"point,omitempty"` // the counter or in-path point the numbers come from
	InRate   float64     `json:"in_rate"`
	OutRate  float64     `json:"out_rate"`
	DropRate float64     `json:"drop_rate"`
	Residual float64     `json:"residual_rate"`
	Known    bool        `json:"known"`     // both in and out measured: the residual is meaningful
	InKnown  bool        `json:"in_known"`  // in_rate is a measurement (not an absent one)
	OutKnown bool        `json:"out_known"` // out_rate is a measurement
}
