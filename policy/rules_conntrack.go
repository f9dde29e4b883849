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

// ctOf names conntrack's throughput. On current kernels ct_cpu_seq_show prints 0 for new
// (and insert counts only ctnetlink-created entries), so there is no per-connection
// throughput; conntrack sees every IP packet, so its throughput is the packets entering the
// PREROUTING and OUTPUT hooks. Both counters move before the hooks run, so they include the
// packets conntrack dropped: passed() takes those out.
const ctOf = "Ip(6).InReceives + OutRequests"

// conntrackRules: docs/rules.md row 8 from /proc/net/stat/nf_conntrack.
func conntrackRules(e *engine) {
	c := e.d.Conntrack
	if c == nil {
		return
	}
	entering := e.snmp("Ip.InReceives") + e.snmp("Ip.OutRequests") + e.snmp("Ip6.InReceives") + e.snmp("Ip6.OutRequests")
	fill := e.conntrackFill()
	full := !fill.unlimited && (c["early_drop"] > 0 || fill.share >= conntrackFullFraction)
	if full {
		conntrackFull(e, c, entering, fill)
	} else {
		conntrackInsert(e, c, entering)
	}
	through := passed(entering, c["invalid"])
	e.add(obs{stage: stage.Netfilter, class: stage.ClassPolicy, suffix: "conntrack-invalid", pressure: true,
		drops: c["invalid"], through: through, of: ctOf,
		summary:  "conntrack could not classify packets (invalid: malformed, outside the TCP window, or an ICMP error without a connection); conntrack passes them and the ruleset decides (ct state invalid drop): policy, not capacity",
		evidence: []Evidence{e.ev("nf_conntrack invalid", c["invalid"], ctOf, through)}})
}

// passed is the packets that entered conntrack minus the n it counted, so that a ratio
// against it (drops ÷ (passed + drops)) is the share of the packets that entered.
func passed(entering, n uint64) uint64 { return entering - min(entering, n) }

// ctFill is the entry count against the table's limit at the end of the interval.
type ctFill struct {
	count, max int64
	known      bool // both sysctls were read
	unlimited  bool // nf_conntrack_max 0: the kernel never refuses an entry for size
	share      float64
}

func (e *engine) conntrackFill() ctFill {
	n, okN := e.sysctlInt(ctCount)
	m, okM := e.sysctlInt(ctMax)
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
// (drop; "nf_conntrack: table full, dropping packet").
func conntrackFull(e *engine, c map[string]uint64, entering uint64, fill ctFill) {
	drop, early := c["drop"], c["early_drop"]
	through := passed(entering, drop)
	ev := e.nonZero([]Evidence{e.ev("nf_conntrack drop", drop, ctOf, through), e.ev("nf_conntrack early_drop", early, ctOf, through)})
	for i := range ev {
		if ev[i].Counter == "nf_conntrack early_drop" {
			ev[i].Note = "unreplied connections evicted to admit new ones: counted only at nf_conntrack_max"
		}
	}
	ev = append(ev, fill.evidence()...)
	o := obs{stage: stage.Netfilter, suffix: "conntrack", drops: drop, through: through, of: ctOf, evidence: ev,
		summary: "the conntrack table is full (nf_conntrack_max): packets of new connections were dropped"}
	if drop == 0 {
		// Evictions alone lose no packet, but every one ended a connection the host was tracking.
		o.drops, o.pressure = early, true
		o.summary = "the conntrack table is full (nf_conntrack_max): the kernel evicted unreplied connections to admit new ones"
	}
	f := e.add(o)
	if f == nil {
		return
	}
	e.proposeSysctl(f, sysctlStep{
		key:  ctMax,
		mem:  func(cur, next int64) int64 { return (next - cur) * conntrackEntryBytes },
		risk: fmt.Sprintf("each entry costs ≈ %d B of kernel memory while it exists, and the limit applies to every network namespace separately: the estimate is for one namespace that fills its table", conntrackEntryBytes),
		why:  "nf_conntrack_max bounds the entries of each network namespace; at the limit new connections evict unreplied ones or are dropped. It is one host-wide value (read-only inside a child netns), so it is set in the host netns",
	})
	e.addAdvice(f.ID + ": " + e.bucketsAdvice())
	e.addAdvice(f.ID + ": shorter timeouts free entries sooner (net.netfilter.nf_conntrack_udp_timeout, nf_conntrack_tcp_timeout_established), and traffic that needs no state can be exempted (notrack); a sudden rise in new connections can also be a flood")
}

// bucketsAdvice: the hash table is sized separately. It is not proposed: it exists only in
// the host netns, and a write rehashes every entry while conntrack waits.
func (e *engine) bucketsAdvice() string {
	s := "raise net.netfilter.nf_conntrack_buckets along with nf_conntrack_max (the kernel default is one bucket per allowed entry; each lookup walks one chain)"
	if b, ok := e.sysctlInt(ctBuckets); ok {
		s += "; it is " + strconv.FormatInt(b, 10) + " now"
	}
	return s + ". It is writable only in the host netns and a write rehashes the whole table while conntrack waits: do it at a quiet moment"
}

// conntrackInsert: entries that could not be inserted although the table had room. Two
// packets of one new flow raced on different CPUs (UDP DNS: A and AAAA from one socket) and
// the clash could not be resolved, or a hash chain grew past the kernel's limit. More entries
// would not help; clashres are clashes resolved without loss.
func conntrackInsert(e *engine, c map[string]uint64, entering uint64) {
	failed, drop, chain := c["insert_failed"], c["drop"], c["chainlength"]
	// An unresolved clash counts in both insert_failed and drop; a too-long chain only in
	// insert_failed, a tracker's refusal only in drop.
	lost := max(failed, drop)
	through := passed(entering, lost)
	ev := e.nonZero([]Evidence{
		e.ev("nf_conntrack insert_failed", failed, ctOf, through),
		e.ev("nf_conntrack drop", drop, ctOf, through),
		e.ev("nf_conntrack chainlength", chain, ctOf, through),
		e.ev("nf_conntrack clashres", c["clashres"], ctOf, through),
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
	f := e.add(obs{stage: stage.Netfilter, suffix: "conntrack-insert", drops: lost, through: through, of: ctOf,
		summary: summary, evidence: ev})
	if f == nil {
		return
	}
	if failed > 0 {
		e.addAdvice(f.ID + ": insert races are an application pattern, not a table size: for DNS, resolver options single-request or single-request-reopen (glibc) avoid parallel A/AAAA queries from one socket")
	}
	if chain > 0 {
		e.addAdvice(f.ID + ": hash chains grew too long: " + e.bucketsAdvice() + "; uneven chains can also mean a hash flood")
	}
}
