package model

import (
	"strconv"

	"github.com/nettune/nettune/model/stage"
)

// Firewall is a namespace's nftables ruleset as netlink shows it: its chains and rules, with
// the packet counters of the rules that have one. Rules that iptables-nft installs are
// nftables rules too and appear here the same way.
type Firewall struct {
	Chains []FirewallChain `json:"chains,omitempty"`
	Rules  []FirewallRule  `json:"rules,omitempty"`
	// Unreadable says why the ruleset could not be read (no CAP_NET_ADMIN, a netlink error):
	// its rules are then unknown, not absent.
	Unreadable string `json:"unreadable,omitempty"`
}

// FirewallChain is one chain. A base chain is attached to a hook; a regular chain runs only
// when a rule jumps to it.
type FirewallChain struct {
	Family string     `json:"family"` // ip, ip6, inet, arp, bridge, netdev
	Table  string     `json:"table"`
	Name   string     `json:"name"`
	Hook   stage.Hook `json:"hook,omitempty"` // "" for a regular chain
	Type   string     `json:"type,omitempty"` // filter, nat, route (base chains)
	// PolicyDrop: a base chain whose policy drops what no rule accepted.
	PolicyDrop bool `json:"policy_drop,omitempty"`
}

// FirewallRule is one rule with a readable rendering of its expressions.
type FirewallRule struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Handle uint64 `json:"handle"` // nft --handle list ruleset shows it
	Expr   string `json:"expr"`   // "udp dport 9000 counter drop"
	// Drop: the rule drops (or rejects) what it matches.
	Drop bool `json:"drop,omitempty"`
	// Jumps are the chains the rule jumps or goes to.
	Jumps []string `json:"jumps,omitempty"`
	// Counter: the rule has a counter, and Packets and Bytes are its values (in a Delta,
	// what it counted during the interval).
	Counter bool   `json:"counter,omitempty"`
	Packets uint64 `json:"packets,omitempty"`
	Bytes   uint64 `json:"bytes,omitempty"`
}

// Key identifies a rule across samples: handles are unique within a table and never reused
// while the table exists.
func (r FirewallRule) Key() string {
	return r.Family + " " + r.Table + " " + r.Chain + " handle " + strconv.FormatUint(r.Handle, 10)
}
