package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// ipTraffic is 100 000 packets through the conntrack hooks in the interval.
var ipTraffic = map[string]uint64{"Ip.InReceives": 80000, "Ip.OutRequests": 20000}

// The lab's counters (collect/kstat/testdata/conntrack-6.18): 2000 new flows, table of 64.
var tableFull = map[string]uint64{"drop": 1925, "early_drop": 11, "insert_failed": 0, "invalid": 0, "clashres": 0}

func TestConntrackRules(t *testing.T) {
	for _, tc := range []ruleCase{
		{name: "table full", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(262144, 262144, tableFull).build(),
			plan:  []string{"sysctl:net.netfilter.nf_conntrack_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				a := r.Plan[0]
				if a.Current != "262144" || a.Proposed != "524288" || a.Scope != model.ScopeGlobal || a.Netns != "" ||
					a.Command != "sysctl -w net.netfilter.nf_conntrack_max=524288" || a.MemoryBytes != 262144*320 || a.Disruptive {
					t.Errorf("action %+v", a)
				}
				// Ip.InReceives and OutRequests count the dropped packets too: the ratio is
				// the share of the 100 000 that entered.
				if f.ID != "netfilter/host/conntrack" || f.DropRate != 192.5 || f.Ratio != 0.01925 ||
					!hasEvidenceNote(f, "table 100 % full: 262144 of 262144") {
					t.Errorf("finding %+v", f)
				}
				if !hasAdvice(r, "nf_conntrack_buckets") || !hasAdvice(r, "it is 262144 now") {
					t.Errorf("no buckets advice: %v", r.Advice)
				}
			}},
		{name: "NETFILTER_DROP events confirm the conntrack finding, the rest stay policy", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(262144, 262144, tableFull).inPath(&model.InPath{Drops: []model.DropCount{
				{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: 2000}}}).build(),
			plan: []string{"sysctl:net.netfilter.nf_conntrack_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(f.Reasons) != 1 || f.Reasons[0].Count != 1925 {
					t.Errorf("conntrack finding reasons %+v", f.Reasons)
				}
				// the 75 events beyond the conntrack counters' drops: a firewall rule's
				p := find(r, stage.PolicyDrop)
				if p == nil || len(p.Reasons) != 1 || p.Reasons[0].Count != 75 {
					t.Errorf("policy remainder %+v", p)
				}
			}},
		{name: "table full in a child netns is set in the host", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().netns("web").snmp(ipTraffic).conntrack(250000, 262144, tableFull).build(),
			plan:  []string{"sysctl:net.netfilter.nf_conntrack_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				a := r.Plan[0]
				if a.Netns != "" || a.Scope != model.ScopeGlobal || a.Command != "sysctl -w net.netfilter.nf_conntrack_max=524288" {
					t.Errorf("action %+v: nf_conntrack_max is read-only in a child netns", a)
				}
				if f.Netns != "web" || f.ID != "netfilter/web/conntrack" || !hasEvidenceNote(f, "table 95 % full") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "nearly full table without evictions", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(240000, 262144, map[string]uint64{"drop": 5000}).build(),
			plan:  []string{"sysctl:net.netfilter.nf_conntrack_max"}},
		{name: "max at its cap", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(4194304, 4194304, tableFull).build(),
			plan:  []string{"sysctl:net.netfilter.nf_conntrack_max"},
			check: func(t *testing.T, r *Report, f *Finding) {
				if a := r.Plan[0]; !a.AtCap || a.Proposed != "4194304" || a.Command != "" {
					t.Errorf("action %+v", a)
				}
			}},
		{name: "evictions alone are pressure", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityInfo,
			delta: newDelta().snmp(ipTraffic).conntrack(262144, 262144, map[string]uint64{"early_drop": 500}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.DropRate != 0 || !reflect.DeepEqual(f.Knobs, []string{"sysctl:net.netfilter.nf_conntrack_max"}) {
					t.Errorf("finding %+v: evictions lose no packet but name the knob", f)
				}
			}},
		{name: "insert races without a full table", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(1000, 262144,
				map[string]uint64{"insert_failed": 1500, "drop": 1400, "chainlength": 100, "clashres": 300}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.ID != "netfilter/host/conntrack-insert" || f.DropRate != 150 || len(f.Knobs) != 0 {
					t.Errorf("finding %+v", f)
				}
				if !hasAdvice(r, "single-request") || !hasAdvice(r, "hash chains grew too long") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "invalid is policy", stage: stage.Netfilter, class: stage.ClassPolicy, severity: SeverityInfo,
			delta: newDelta().snmp(ipTraffic).conntrack(1000, 262144, map[string]uint64{"invalid": 5000}).build()},
		{name: "unlimited table is never full", stage: stage.Netfilter, class: stage.ClassCapacity, severity: SeverityCritical,
			delta: newDelta().snmp(ipTraffic).conntrack(900000, 0, map[string]uint64{"drop": 3000}).build(),
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.ID != "netfilter/host/conntrack-insert" {
					t.Errorf("finding %+v: nf_conntrack_max 0 has no limit to raise", f)
				}
			}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestConntrackQuiet(t *testing.T) {
	for name, b := range map[string]*db{
		"full table, no movement": newDelta().snmp(ipTraffic).conntrack(262144, 262144, map[string]uint64{"drop": 0, "early_drop": 0}),
		"no conntrack":            newDelta().snmp(ipTraffic),
		"below min_ratio":         newDelta().snmp(map[string]uint64{"Ip.InReceives": 1e8}).conntrack(262144, 262144, map[string]uint64{"drop": 50}),
		"resolved clashes":        newDelta().snmp(ipTraffic).conntrack(10, 262144, map[string]uint64{"clashres": 900}),
	} {
		r := Analyze(b.build(), DefaultConfig())
		checkInvariants(t, r)
		if len(r.Findings) != 0 || len(r.Plan) != 0 {
			t.Errorf("%s: findings %+v plan %+v", name, r.Findings, r.Plan)
		}
	}
}

func TestConntrackKnobDisallowed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Knobs = map[string]bool{"sysctl:net.netfilter": false}
	r := Analyze(newDelta().snmp(ipTraffic).conntrack(262144, 262144, tableFull).build(), cfg)
	checkInvariants(t, r)
	if len(r.Plan) != 0 || !hasAdvice(r, "not allowed by the config") {
		t.Errorf("plan %+v advice %v", r.Plan, r.Advice)
	}
}

func hasEvidenceNote(f *Finding, s string) bool {
	for _, x := range f.Evidence {
		if strings.Contains(x.Note, s) {
			return true
		}
	}
	return false
}
