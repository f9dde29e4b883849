package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// firewallRule: the nftables ruleset (docs/rules.md row 15). A DROP rule with a counter that
// grew during the interval is a population of drops at its hook, named by family, table,
// chain, handle and expression. For NETFILTER_DROP reasons no counter accounts for, the rule
// also tells reconcile where the ruleset can drop at all: DROP rules without a counter and
// chains whose policy drops, each with the hook it runs at.
func firewallRule(in *input) output {
	fw := in.d.Firewall
	if fw == nil {
		return output{}
	}
	var out output
	view := &rulesetView{unreadable: fw.Unreadable}
	out.ruleset = view
	if fw.Unreadable != "" {
		return out
	}
	hooks := reachingHooks(fw)
	counted := map[stage.Hook][]model.FirewallRule{}
	for _, r := range fw.Rules {
		if !r.Drop {
			continue
		}
		hs := hooks[chainKey{r.Family, r.Table, r.Chain}]
		if len(hs) == 0 {
			continue // in a chain no base chain reaches: it never runs
		}
		h := hs[0]
		if len(hs) > 1 {
			h = "" // reached from several hooks: the counter cannot tell which
		}
		if r.Counter {
			if r.Packets > 0 {
				counted[h] = append(counted[h], r)
			}
			continue // a counter that did not move: this rule dropped nothing
		}
		view.add(r.Family, nameRule(r, h, nil))
	}
	for _, c := range fw.Chains {
		if c.PolicyDrop && c.Hook != "" {
			view.add(c.Family, FirewallRule{Family: c.Family, Table: c.Table, Chain: c.Name, Hook: c.Hook, Expr: "policy drop"})
		}
	}
	sort.Slice(view.candidates, func(i, j int) bool { return candidateKey(view.candidates[i]) < candidateKey(view.candidates[j]) })
	for h, rs := range counted {
		out.add(countedDrops(in, h, rs))
	}
	return out
}

// countedDrops is the population of drops the counted DROP rules of one hook made.
func countedDrops(in *input, h stage.Hook, rs []model.FirewallRule) *obs {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Key() < rs[j].Key() })
	var drops uint64
	var v4, v6 bool
	for _, r := range rs {
		drops += r.Packets
		f4, f6 := families(r.Family)
		v4, v6 = v4 || f4, v6 || f6
	}
	p := place{stage: stage.Netfilter, sub: string(h)}
	b := in.netfilterBase(string(h), v4, v6)
	o := &obs{place: p, class: stage.ClassPolicy, source: sourceConfig, drops: drops, base: b, hook: h}
	for _, r := range rs {
		n := r.Packets
		o.rules = append(o.rules, nameRule(r, h, &n))
		o.evidence = append(o.evidence, in.ev(fmt.Sprintf("nft %s %s %s handle %d counter", r.Family, r.Table, r.Chain, r.Handle), n, b, drops))
	}
	where := "at the " + string(h) + " hook"
	if h == "" {
		where = "in a chain several hooks jump to"
	}
	r := rs[0]
	o.summary = fmt.Sprintf("the firewall dropped packets %s: %s %s %s handle %d: %s", where, r.Family, r.Table, r.Chain, r.Handle, r.Expr)
	if len(rs) > 1 {
		o.summary += fmt.Sprintf(" (and %d more DROP rules)", len(rs)-1)
	}
	o.say(always(in.id(p) + ": firewall drops are the ruleset's decision: change the rule if these packets should pass; nothing to tune"))
	return o
}

func nameRule(r model.FirewallRule, h stage.Hook, packets *uint64) FirewallRule {
	return FirewallRule{Family: r.Family, Table: r.Table, Chain: r.Chain, Hook: h, Handle: r.Handle, Expr: r.Expr, Packets: packets}
}

func (v *rulesetView) add(family string, r FirewallRule) {
	f4, f6 := families(family)
	v.v4, v.v6 = v.v4 || f4, v.v6 || f6
	v.candidates = append(v.candidates, r)
}

func candidateKey(r FirewallRule) string {
	return fmt.Sprintf("%s %s %s %s %020d", r.Hook, r.Family, r.Table, r.Chain, r.Handle)
}

// families says which IP versions a table family filters (bridge and netdev see both).
func families(family string) (v4, v6 bool) {
	switch family {
	case "ip":
		return true, false
	case "ip6":
		return false, true
	case "arp":
		return false, false
	}
	return true, true
}

type chainKey struct{ family, table, chain string }

// reachingHooks is, for every chain, the hooks whose base chains reach it through jumps and
// gotos (in hook order, each once).
func reachingHooks(fw *model.Firewall) map[chainKey][]stage.Hook {
	jumps := map[chainKey][]string{}
	for _, r := range fw.Rules {
		k := chainKey{r.Family, r.Table, r.Chain}
		jumps[k] = append(jumps[k], r.Jumps...)
	}
	out := map[chainKey][]stage.Hook{}
	for _, c := range fw.Chains {
		if c.Hook == "" {
			continue
		}
		seen := map[string]bool{}
		var walk func(name string)
		walk = func(name string) {
			if seen[name] {
				return
			}
			seen[name] = true
			k := chainKey{c.Family, c.Table, name}
			if !containsHook(out[k], c.Hook) {
				out[k] = append(out[k], c.Hook)
			}
			for _, j := range jumps[k] {
				walk(j)
			}
		}
		walk(c.Name)
	}
	for k := range out {
		sort.Slice(out[k], func(i, j int) bool { return hookOrder(out[k][i]) < hookOrder(out[k][j]) })
	}
	return out
}

func containsHook(hs []stage.Hook, h stage.Hook) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func hookOrder(h stage.Hook) int {
	return strings.Index("ingress prerouting input forward output postrouting egress", string(h))
}
