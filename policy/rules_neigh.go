package policy

import (
	"fmt"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// neighRule: docs/rules.md row 17. A neighbour table at gc_thresh3 refuses new entries
// (table_fulls: the packet that needed the entry is dropped); packets waiting for an answer
// overflow their neighbour's queue (unresolved_discards). The tables and their thresholds are
// the host's, shared by every namespace.
func neighRule(in *input) output {
	var out output
	out.add(neighTable(in), neighQueue(in))
	return out
}

// neighFamilies maps a neighbour table to its sysctl prefix.
var neighFamilies = map[string]string{"arp_cache": "net.ipv4.neigh.default.", "ndisc_cache": "net.ipv6.neigh.default."}

// neighCounter sums one counter over the tables.
func (in *input) neighCounter(name string) uint64 {
	var n uint64
	for _, t := range in.d.Neigh {
		n += t.Counters[name]
	}
	return n
}

// neighDrops is the packets the neighbour stage dropped: entries the full table refused and
// packets an unresolved neighbour's queue overflowed.
func (in *input) neighDrops() uint64 {
	return in.neighCounter("table_fulls") + in.neighCounter("unresolved_discards")
}

func (in *input) neighEvidence(t model.NeighTable, b base, total uint64) []Evidence {
	ev := nonZero([]Evidence{
		in.ev("neigh "+t.Name+" table_fulls", t.Counters["table_fulls"], b, total),
		in.ev("neigh "+t.Name+" unresolved_discards", t.Counters["unresolved_discards"], b, total),
		in.note("neigh "+t.Name+" forced_gc_runs", t.Counters["forced_gc_runs"], "garbage collection forced by a table at gc_thresh3"),
	})
	note := "entries of every namespace now (host-wide table)"
	if c := t.NetnsEntries; c != nil {
		note += fmt.Sprintf("; this namespace holds %d (%d permanent, %d unresolved)", c.Total, c.Permanent, c.Unresolved)
	}
	return append(ev, in.note("neigh "+t.Name+" entries", t.Entries, note))
}

func neighTable(in *input) *obs {
	drops := in.neighCounter("table_fulls")
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.Neigh, sub: "table"}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, drops: drops, base: b,
		summary: "packets were dropped because the neighbour table (ARP/ND) was full at gc_thresh3 and garbage collection could not free an entry"}
	var fams []string
	for _, t := range in.d.Neigh {
		if t.Counters["table_fulls"] == 0 {
			continue
		}
		o.evidence = append(o.evidence, in.neighEvidence(t, b, drops)...)
		prefix, ok := neighFamilies[t.Name]
		if !ok {
			continue
		}
		fams = append(fams, t.Name)
		// gc_thresh3 is the hard limit: room for twice the entries seen; gc_thresh2, above
		// which collection starts within 5 s, for the entries seen; gc_thresh1 one step, so
		// the three stay ordered.
		entries := int64(t.Entries)
		// gc_thresh2 (and gc_thresh1 with it) only where the entries passed it: above the
		// entries it changes nothing but how late collection starts
		thresh2, ok := in.sysctlInt(prefix + "gc_thresh2")
		lower := !ok || thresh2 < entries
		for _, s := range []struct {
			name    string
			atLeast int64
			why     string
		}{
			{"gc_thresh1", 0, "below gc_thresh1 entries are never collected; raised with the others to keep gc_thresh1 ≤ gc_thresh2 ≤ gc_thresh3"},
			{"gc_thresh2", entries, "above gc_thresh2 the table is collected within 5 s: sized for the entries the table held"},
			{"gc_thresh3", 2 * entries, "gc_thresh3 is the table's hard limit (every namespace together): no entry is created above it, and the packet that needed one is dropped"},
		} {
			if s.name != "gc_thresh3" && !lower {
				continue
			}
			o.offer(sysctlProposal(sysctlStep{key: prefix + s.name, atLeast: s.atLeast,
				mem:  func(cur, next int64) int64 { return (next - cur) * neighEntryBytes },
				risk: "more neighbour entries may be kept host-wide (≈ 512 B each, an estimate)", why: s.why}))
		}
	}
	id := in.id(p)
	o.say(always(id + ": the neighbour tables are host-wide: every namespace's entries count against gc_thresh3"))
	if len(fams) > 0 {
		o.say(ifActing(id + ": many unresolved neighbours (ip neigh show nud incomplete/failed) mean traffic to addresses that do not answer: a scan or a misrouted subnet fills the table as well as real peers do (" + strings.Join(fams, ", ") + ")"))
	}
	return o
}

// neighEntryBytes estimates one neighbour entry with its hash slot.
const neighEntryBytes = 512

// neighQueue: packets queued for a neighbour that did not answer in time overflowed its queue.
// No knob: the queue holds packets for an address being resolved, and a longer one only
// delays the loss when the address never answers.
func neighQueue(in *input) *obs {
	drops := in.neighCounter("unresolved_discards")
	if drops == 0 {
		return nil
	}
	p := place{stage: stage.Neigh, sub: "queue"}
	b := in.stageBase(p)
	o := &obs{place: p, source: sourceCounter, drops: drops, base: b,
		summary: "packets waiting for a neighbour's link-layer address overflowed its queue: the address did not answer (ARP/ND) in time"}
	for _, t := range in.d.Neigh {
		if t.Counters["unresolved_discards"] > 0 {
			o.evidence = append(o.evidence, in.neighEvidence(t, b, drops)...)
		}
	}
	o.say(always(in.id(p) + ": check that the next hops answer (ip neigh show nud failed); a full table (table_fulls) is the other cause and has its own finding"))
	return o
}
