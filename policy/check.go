package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Check returns every way report r of interval d breaks the invariants a verdict must hold
// (docs/rules.md §8.7), joined; nil when it breaks none. Every scenario the tests run — the
// rule tables, the recorded end-to-end host, the lab's loss injections and closed loops —
// calls it.
//
//   - every finding's stage is a point of the path, and no two findings are one population
//     (one place: stage, netns or host, interface, part of the stage, CPU);
//   - the findings' drop rates add up to no more than the drops observed (each place counted
//     once, by its counters or its drop reasons, whichever saw more);
//   - findings come capacity loss first: when a capacity finding lost packets, the first
//     finding is one;
//   - benign and policy findings are never critical, and never list knobs;
//   - the plan: known knob IDs, one action per knob, each for actionable findings of the
//     report, never lower than the current value, and at cap without a command.
func Check(r *Report, d *model.Delta) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	ids := map[string]*Finding{}
	var sum float64
	for i := range r.Findings {
		f := &r.Findings[i]
		if !f.Stage.Valid() {
			bad("finding %s: stage %q is not a point of the path", f.ID, f.Stage)
		}
		if ids[f.ID] != nil {
			bad("findings share the population %s", f.ID)
		}
		ids[f.ID] = f
		sum += f.DropRate
		if f.Class != stage.ClassCapacity {
			if f.Severity > SeverityWarning {
				bad("%s finding %s is %s", f.Class, f.ID, f.Severity)
			}
			if len(f.Knobs) > 0 {
				bad("%s finding %s lists knobs %v", f.Class, f.ID, f.Knobs)
			}
		}
		if i > 0 && capacityLoss(f) && !capacityLoss(&r.Findings[i-1]) {
			bad("capacity loss %s comes after finding %s (%s, %.1f/s)", f.ID, r.Findings[i-1].ID, r.Findings[i-1].Class, r.Findings[i-1].DropRate)
		}
		for _, k := range f.Knobs {
			if _, err := knob.Parse(k); err != nil {
				bad("finding %s: knob %q: %v", f.ID, k, err)
			}
		}
	}
	if d != nil && d.Interval > 0 {
		total, places := observed(d)
		if seen := d.Rate(total); sum > seen*1.0001+1e-9 {
			bad("findings lose %.1f packets/s, but %.1f/s were observed (findings: %s; observed: %s)", sum, seen,
				findingRates(r), placesSeen(d, places))
		}
	}
	seen := map[string]bool{}
	for _, a := range r.Plan {
		if _, err := knob.Parse(a.Knob); err != nil {
			bad("action %s: %v", a.Knob, err)
		}
		if seen[a.Knob] {
			bad("two actions for %s", a.Knob)
		}
		seen[a.Knob] = true
		if len(a.Findings) == 0 {
			bad("action %s answers no finding", a.Knob)
		}
		for _, id := range a.Findings {
			if f := ids[id]; f == nil {
				bad("action %s names unknown finding %s", a.Knob, id)
			} else if !actionable(f) {
				bad("action %s for finding %s (%s, %s) that earns no action", a.Knob, id, f.Class, f.Severity)
			}
		}
		if a.AtCap && (a.Proposed != a.Current || a.Command != "") {
			bad("action %s at cap but proposes %q with command %q", a.Knob, a.Proposed, a.Command)
		}
		if lowered(a.Current, a.Proposed) {
			bad("action %s lowers %q to %q", a.Knob, a.Current, a.Proposed)
		}
	}
	return errors.Join(errs...)
}

// observedDrops is every packet drop d shows, each place counted once: at each place (stage,
// interface, part of the stage) the larger of what its counters and its drop reasons counted.
// Drop reasons that name no part fill what the counters of any part saw first. A sender's
// ENOBUFS counts only beyond the drops of the places it is the view of (sndbufViews).
func observedDrops(d *model.Delta) uint64 {
	total, _ := observed(d)
	return total
}

// observed is observedDrops with what each stage (and interface) counted, by part.
func observed(d *model.Delta) (uint64, map[stageIface]*partsSeen) {
	in := newInput(d, Settings{}, DefaultConfig())
	counted := map[placeKey]uint64{}
	for i := range d.Links {
		l := &d.Links[i]
		for _, r := range slices2(in.linkRx(nil, l, -1, nil), in.linkTx(nil, l, nil)) {
			counted[placeKey{r.st, l.Name, ""}] += r.drop
		}
	}
	srx, stx := in.socketRows(nil)
	for _, r := range slices2(srx, stx) {
		counted[placeKey{r.st, "", ""}] += r.drop
	}
	for st, parts := range in.countedParts() {
		delete(counted, placeKey{st, "", ""})
		for sub, n := range parts {
			counted[placeKey{st, "", sub}] = n
		}
	}
	for _, c := range d.Softnet {
		counted[placeKey{stage.Backlog, "", ""}] += uint64(c.Dropped)
		counted[placeKey{stage.FlowLimit, "", ""}] += uint64(c.FlowLimitCount)
	}
	// foreign XDP programs consume packets between the XDP and tc-ingress points
	if ip := d.InPath; ip != nil {
		for _, p := range ip.Foreign {
			xdp, tc := in.pointsByQueue(p.Link, model.PointXDP), in.pointsByQueue(p.Link, model.PointTCIngress)
			for q, n := range xdp {
				if n > tc[q] {
					counted[placeKey{stage.XDP, p.Link, ""}] += n - tc[q]
				}
			}
		}
	}
	byStage := map[stageIface]*partsSeen{}
	see := func(k placeKey) *partsSeen {
		s := byStage[stageIface{k.st, k.iface}]
		if s == nil {
			s = &partsSeen{counted: map[string]uint64{}, reasons: map[string]uint64{}}
			byStage[stageIface{k.st, k.iface}] = s
		}
		return s
	}
	for k, n := range counted {
		see(k).counted[k.sub] += n
	}
	for k, n := range in.reasonsByPart() {
		see(k).reasons[k.sub] += n
	}
	var total, viewed uint64
	for k, s := range byStage {
		if k.st == stage.UDPSndbuf {
			continue
		}
		total += s.drops()
		for _, w := range sndbufViews {
			switch {
			case w.stage != k.st:
			case w.sub == "":
				viewed += s.drops()
			default:
				viewed += max(s.counted[w.sub], s.reasons[w.sub])
			}
		}
	}
	var sndbuf uint64
	if s := byStage[stageIface{stage.UDPSndbuf, ""}]; s != nil {
		sndbuf = s.drops()
	}
	return total + sndbuf - min(sndbuf, viewed), byStage
}

// findingRates lists the findings' drop rates, for an invariant's error.
func findingRates(r *Report) string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s %.1f/s", f.ID, f.DropRate))
	}
	return strings.Join(out, ", ")
}

// placesSeen lists what each place with drops counted, by part: counters, then drop reasons.
func placesSeen(d *model.Delta, places map[stageIface]*partsSeen) string {
	var out []string
	for k, s := range places {
		n := s.drops()
		if n == 0 {
			continue
		}
		var parts []string
		for sub := range union(s.counted, s.reasons) {
			parts = append(parts, fmt.Sprintf("%q %d/%d", sub, s.counted[sub], s.reasons[sub]))
		}
		slices.Sort(parts)
		name := fmt.Sprint(k.st)
		if k.iface != "" {
			name += "/" + k.iface
		}
		out = append(out, fmt.Sprintf("%s %.1f/s [%s]", name, d.Rate(n), strings.Join(parts, " ")))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// placeKey is a place as observedDrops counts it: stage, interface of a device stage, part.
type placeKey struct {
	st         stage.Stage
	iface, sub string
}

// partsSeen is what one stage's counters and drop reasons counted, by part ("" = no part).
type partsSeen struct{ counted, reasons map[string]uint64 }

// drops is the stage's distinct drops: each part the larger of its two counts; reasons that
// name no part are the drops the counters already saw until they exceed them.
func (s *partsSeen) drops() uint64 {
	var n, slack uint64
	for sub, c := range s.counted {
		if sub == "" {
			n, slack = n+c, slack+c
		}
	}
	for sub := range union(s.counted, s.reasons) {
		if sub == "" {
			continue
		}
		c, r := s.counted[sub], s.reasons[sub]
		n += max(c, r)
		slack += c - min(c, r)
	}
	if r := s.reasons[""]; r > slack {
		n += r - slack
	}
	return n
}

// countedParts is the counters of stages whose rules split them by part, as those rules read
// them, with the stage's remainder at "". They replace the stage's row in observedDrops: a
// part's drop reasons can then not hide behind another part's counters.
func (in *input) countedParts() map[stage.Stage]map[string]uint64 {
	n := in.snmp
	return map[stage.Stage]map[string]uint64{
		stage.IP: {"": n("Ip.InDiscards"), "headers": in.ipHeaderDrops(), "noproto": n("Ip.InUnknownProtos"),
			"routing": n("IpExt.InNoRoutes") + n("Ip.InAddrErrors"), "rp-filter": n("TcpExt.IPReversePathFilter")},
		stage.IPOut:        {"": n("Ip.OutDiscards"), "routing": n("Ip.OutNoRoutes")},
		stage.Neigh:        {"table": in.neighCounter("table_fulls"), "queue": in.neighCounter("unresolved_discards")},
		stage.SocketLookup: {"udp": in.udp("NoPorts")},
	}
}

// reasonsByPart is the drop reasons by place with their part; a device stage's by interface,
// the backlog's host-wide like its counters.
func (in *input) reasonsByPart() map[placeKey]uint64 {
	out := map[placeKey]uint64{}
	in.placedDrops(func(rp reasonPlace, iface string, n uint64) {
		if rp.stage == stage.Backlog {
			iface = ""
		}
		out[placeKey{rp.stage, iface, rp.sub}] += n
	})
	return out
}

func slices2(a, b []row) []row { return append(a, b...) }

func union(a, b map[string]uint64) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// lowered compares numeric values field by field.
func lowered(cur, next string) bool {
	a, b := fieldsOf(cur), fieldsOf(next)
	if a == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if b[i] < a[i] {
			return true
		}
	}
	return false
}

func fieldsOf(s string) []int64 {
	var out []int64
	var v int64
	digits := false
	for i := 0; i <= len(s); i++ {
		switch {
		case i < len(s) && s[i] >= '0' && s[i] <= '9':
			v, digits = v*10+int64(s[i]-'0'), true
		case i == len(s) || s[i] == ' ' || s[i] == '\t':
			if digits {
				out = append(out, v)
			}
			v, digits = 0, false
		default:
			return nil // not a list of numbers (a CPU mask, "unknown")
		}
	}
	return out
}
