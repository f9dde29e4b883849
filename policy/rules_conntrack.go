package policy

import (
	"fmt"
	"strconv"

	"github.com/nettune/nettune/model/stage"
)

// conntrackFullFraction † : the table counts as full when the entry count (a gauge read at the
// end of the interval) is at least this share of nf_conntrack_max. Eviction (early_drop) only
// starts above the max, and the GC worker starts evicting early at 95 %; 90 % leaves room for
// the count having fallen between the drops and the sample.
const conntrackFullFraction = 0.9

// conntrackEntryBytes estimates the memory of one entry: the nf_conn slab object is 256 B on
// 6.18 (slabinfo nf_conntrack objsize; 14 276 entries added 3.64 MB in the lab), plus the
// extension area (ct->ext, kmalloc'd) once accounting, timestamps, NAT or labels are on.
const conntrackEntryBytes = 320

const (
	ctMax     = "net.netfilter.nf_conntrack_max"
	ctCount   = "net.netfilter.nf_conntrack_count"
	ctBuckets = "net.netfilter.nf_conntrack_buckets"
)

// conntrackRule: docs/rules.md row 8 from /proc/net/stat/nf_conntrack. On current kernels
// ct_cpu_seq_show prints 0 for new (and insert counts only ctnetlink-created entries), so
// there is no per-connection throughput; conntrack sees every IP packet, so its share is
// of the packets entering the PREROUTING and OUTPUT hooks (stageBase).
func conntrackRule(in *input) output {
	c := in.d.Conntrack
	if c == nil {
		return output{}
	}
	var out output
	fill := in.conntrackFill()
	full := !fill.unlimited && (c["early_drop"] > 0 || fill.share >= conntrackFullFraction)
	if full {
		out.add(conntrackFull(in, c, fill))
	} else {
		out.add(conntrackInsert(in, c))
	}
	if n := c["invalid"]; n > 0 {
		p := place{stage: stage.Netfilter, sub: "conntrack-invalid"}
		b := in.stageBase(p)
		out.add(&obs{place: p, class: stage.ClassPolicy, source: sourceConfig, pressure: true, drops: n, base: b,
			summary:  "conntrack could not classify packets (invalid: malformed, outside the TCP window, or an ICMP error without a connection); conntrack passes them and the ruleset decides (ct state invalid drop): policy, not capacity",
			evidence: []Evidence{in.ev("nf_conntrack invalid", n, b, n)}})
	}
	return out
}

// ctFill is the entry count against the table's limit at the end of the interval.
type ctFill struct {
	count, max int64
	known      bool // both sysctls were read
	unlimited  bool // nf_conntrack_max 0: the kernel never refuses an entry for size
	share      float64
}

func (in *input) conntrackFill() ctFill {
	n, okN := in.sysctlInt(ctCount)
	m, okM := in.sysctlInt(ctMax)
	f := ctFill{count: n, max: m, known: okN && okM, unlimited: okM && m == 0}
	if f.known && m > 0 {
		f.share = float64(n) / float64(m)
	}
	return f
}

func (f ctFill) evidence() []Evidence {
	if !f.known || f.unlimited {
		return nil
	}
	return []Evidence{{Counter: "nf_conntrack_count / nf_conntrack_max",
		Note: fmt.Sprintf("table %.0f %% full: %d of %d entries (gauge at the end of the interval)", 100*f.share, f.count, f.max)}}
}

// conntrackFull: the table reached nf_conntrack_max. New connections either evicted an
// unreplied one (early_drop) or, finding none near their hash bucket, lost their packet
// (drop; "nf_conntrack: table full, dropping packet"). Those drops carry the reason
// NETFILTER_DROP, like a firewall rule's: reconcile gives this population its share of them.
func conntrackFull(in *input, c map[string]uint64, fill ctFill) *obs {
	drop, early := c["drop"], c["early_drop"]
	if drop+early == 0 {
		return nil
	}
	p := place{stage: stage.Netfilter, sub: "conntrack"}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{in.ev("nf_conntrack drop", drop, b, drop), in.ev("nf_conntrack early_drop", early, b, drop)})
	for i := range ev {
		if ev[i].Counter == "nf_conntrack early_drop" {
			ev[i].Note = "unreplied connections evicted to admit new ones: counted only at nf_conntrack_max"
		}
	}
	ev = append(ev, fill.evidence()...)
	o := &obs{place: p, source: sourceConfig, drops: drop, base: b, evidence: ev,
		summary: "the conntrack table is full (nf_conntrack_max): packets of new connections were dropped"}
	if drop == 0 {
		// Evictions alone lose no packet, but every one ended a connection the host was tracking.
		o.drops, o.pressure = early, true
		o.summary = "the conntrack table is full (nf_conntrack_max): the kernel evicted unreplied connections to admit new ones"
	}
	o.offer(sysctlProposal(sysctlStep{
		key:  ctMax,
		mem:  func(cur, next int64) int64 { return (next - cur) * conntrackEntryBytes },
		risk: fmt.Sprintf("each entry costs ≈ %d B of kernel memory while it exists, and the limit applies to every network namespace separately: the estimate is for one namespace that fills its table", conntrackEntryBytes),
		why:  "nf_conntrack_max bounds the entries of each network namespace; at the limit new connections evict unreplied ones or are dropped. It is one host-wide value (read-only inside a child netns), so it is set in the host netns",
	}))
	id := in.id(p)
	o.say(always(id+": "+in.bucketsAdvice()),
		always(id+": shorter timeouts free entries sooner (net.netfilter.nf_conntrack_udp_timeout, nf_conntrack_tcp_timeout_established), and traffic that needs no state can be exempted (notrack); a sudden rise in new connections can also be a flood"))
	return o
}

// bucketsAdvice: the hash table is sized separately. It is not proposed: it exists only in
// the host netns, and a write rehashes every entry while conntrack waits.
func (in *input) bucketsAdvice() string {
	s := "raise net.netfilter.nf_conntrack_buckets along with nf_conntrack_max (the kernel default is one bucket per allowed entry; each lookup walks one chain)"
	if b, ok := in.sysctlInt(ctBuckets); ok {
		s += "; it is " + strconv.FormatInt(b, 10) + " now"
	}
	return s + ". It is writable only in the host netns and a write rehashes the whole table while conntrack waits: do it at a quiet moment"
}

// conntrackInsert: entries that could not be inserted although the table had room. Two
// packets of one new flow raced on different CPUs (UDP DNS: A and AAAA from one socket) and
// the clash could not be resolved, or a hash chain grew past the kernel's limit. More entries
// would not help; clashres are clashes resolved without loss.
func conntrackInsert(in *input, c map[string]uint64) *obs {
	failed, drop, chain := c["insert_failed"], c["drop"], c["chainlength"]
	// An unresolved clash counts in both insert_failed and drop; a too-long chain only in
	// insert_failed, a tracker's refusal only in drop.
	lost := max(failed, drop)
	if lost == 0 {
		return nil
	}
	p := place{stage: stage.Netfilter, sub: "conntrack-insert"}
	b := in.stageBase(p)
	ev := nonZero([]Evidence{
		in.ev("nf_conntrack insert_failed", failed, b, lost),
		in.ev("nf_conntrack drop", drop, b, lost),
		in.ev("nf_conntrack chainlength", chain, b, lost),
		in.ev("nf_conntrack clashres", c["clashres"], b, lost),
	})
	for i := range ev {
		switch ev[i].Counter {
		case "nf_conntrack clashres":
			ev[i].Note = "clashes resolved without loss"
		case "nf_conntrack chainlength":
			ev[i].Note = "entries refused because their hash chain was too long"
		}
	}
	summary := "conntrack dropped packets although the table had room: a protocol tracker refused them or memory allocation failed; nf_conntrack_max would not help"
	if failed > 0 {
		summary = "conntrack could not insert new connections although the table had room: packets of one new flow raced on two CPUs (typical of UDP DNS, A and AAAA queries from one socket) or a hash chain was too long; nf_conntrack_max would not help"
	}
	o := &obs{place: p, source: sourceConfig, drops: lost, base: b, summary: summary, evidence: ev}
	id := in.id(p)
	if failed > 0 {
		o.say(always(id + ": insert races are an application pattern, not a table size: for DNS, resolver options single-request or single-request-reopen (glibc) avoid parallel A/AAAA queries from one socket"))
	}
	if chain > 0 {
		o.say(always(id + ": hash chains grew too long: " + in.bucketsAdvice() + "; uneven chains can also mean a hash flood"))
	}
	return o
}
