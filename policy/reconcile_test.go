package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// Issue 12, case 1: a tbf shaper at its rate drops on a veth's egress. The qdisc counters,
// the QDISC_DROP reasons and the senders' ENOBUFS are one population: one qdisc finding,
// class policy (the shaper knows more than the reason's name), with all three as evidence.
func TestShaperDropsAreOneFinding(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.OutDatagrams": 62558, "Udp.SndbufErrors": 37442}).
		link("veth1", veth, stats(func(s *model.LinkStats) { s.TxPackets = 62558 }),
			qdisc(model.Qdisc{Kind: "tbf", Handle: "1:", Root: true, Rate: 12.5e6, Bytes: 125e6, Packets: 62558, Drops: 37442}),
			qdisc(model.Qdisc{Kind: "pfifo", Handle: "10:", Parent: "1:1", Limit: 5, Packets: 62558, Drops: 37442})).
		inPath(&model.InPath{Drops: []model.DropCount{{Reason: "QDISC_DROP", Link: "veth1", Location: "__dev_queue_xmit+0xee2", Count: 37442}}}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 1 {
		t.Fatalf("want one finding, got %+v", r.Findings)
	}
	f := r.Findings[0]
	if f.ID != "qdisc/host/veth1/shaper" || f.Class != stage.ClassPolicy || f.Severity != SeverityWarning || f.DropRate != 3744.2 ||
		len(f.Reasons) != 1 || f.Reasons[0].Count != 37442 || len(f.Checked) != 0 {
		t.Errorf("finding %+v", f)
	}
	for _, c := range []string{"veth1 qdisc pfifo 10: dropped", "kfree_skb QDISC_DROP", "Udp.SndbufErrors"} {
		if !hasEvidence(&f, c) {
			t.Errorf("no evidence %s: %+v", c, f.Evidence)
		}
	}
	if r.Loss() || len(r.Plan) != 0 {
		t.Errorf("a shaper at its rate is no loss to tune: plan %+v", r.Plan)
	}
}

// A drop reason no counter shows keeps its own finding and says which counters were checked.
func TestReasonWithoutCounterSaysWhatWasChecked(t *testing.T) {
	d := newDelta().link("eth0", stats(func(s *model.LinkStats) { s.TxPackets = 9000 })).inPath(&model.InPath{Drops: []model.DropCount{
		{Reason: "QDISC_DROP", Link: "eth0", Location: "__dev_queue_xmit+0x1", Count: 1000}}}).build()
	r := analyze(t, d, DefaultConfig())
	f := byID(r, "qdisc/host/eth0")
	if f == nil || f.Class != stage.ClassCapacity || !reflect.DeepEqual(f.Checked, []string{"eth0 qdisc statistics"}) ||
		f.Ratio != 0.1 || len(f.Knobs) != 0 {
		t.Fatalf("finding %+v", f)
	}
}

// Reasons beyond what the counters of their place counted (read a moment apart) are the same
// drops: they confirm the counter finding, they make no second one.
func TestReasonsBeyondCoveringCounters(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 9000, "Udp.RcvbufErrors": 1000}).inPath(&model.InPath{
		Drops: []model.DropCount{{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 1040}}}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 1 || r.Findings[0].DropRate != 100 || r.Findings[0].Reasons[0].Count != 1040 {
		t.Fatalf("findings %+v", r.Findings)
	}
}

// Issue 12, case 4: a closed-port scan larger than a real overflow. The overflow comes
// first, and the scan is at most a warning.
func TestCapacityComesFirst(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 70000, "Udp.RcvbufErrors": 29000, "Udp.NoPorts": 48000}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 2 || r.Findings[0].ID != "udp-rcvbuf/host" || r.Findings[0].Severity != SeverityCritical ||
		r.Findings[1].ID != "socket-lookup/host/udp" || r.Findings[1].Severity != SeverityWarning {
		t.Fatalf("findings %+v", r.Findings)
	}
}

// A capacity finding without drops (time_squeeze alone) is pressure, not loss: a port scan's
// drops come before it (seen in the kernel matrix's slower guests, which squeeze).
func TestSqueezeWithoutDropsIsNoLossFirst(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 70000, "Udp.NoPorts": 48000}).
		softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.TimeSqueeze = 50000, 500 }).netRx(1000, 1000).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 2 || r.Findings[0].ID != "socket-lookup/host/udp" || r.Findings[1].Stage != stage.SoftirqBudget ||
		r.Findings[1].DropRate != 0 {
		t.Fatalf("findings %+v", r.Findings)
	}
}

func firewall(rules ...model.FirewallRule) *model.Firewall {
	fw := &model.Firewall{Chains: []model.FirewallChain{
		{Family: "inet", Table: "filter", Name: "input", Hook: stage.HookInput, Type: "filter"},
		{Family: "inet", Table: "filter", Name: "forward", Hook: stage.HookForward, Type: "filter"},
		{Family: "inet", Table: "filter", Name: "udp_in", Type: "filter"},
		{Family: "inet", Table: "filter", Name: "orphan"},
	}}
	for i, r := range rules {
		r.Family, r.Table, r.Handle = "inet", "filter", uint64(i+2)
		fw.Rules = append(fw.Rules, r)
	}
	return fw
}

func nfDrops(n uint64) *model.InPath {
	return &model.InPath{Drops: []model.DropCount{{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: n}}}
}

var fwTraffic = map[string]uint64{"Ip.InReceives": 16000, "Ip6.InReceives": 0}

// Issue 12, case 2: firewall drops are at netfilter, with the hook, naming the rule when the
// kernel can tell: a DROP rule's counter that moved, or the only DROP the ruleset has.
func TestFirewallNamesTheRule(t *testing.T) {
	jump := model.FirewallRule{Chain: "input", Expr: "meta l4proto udp jump udp_in", Jumps: []string{"udp_in"}}
	for _, tc := range []struct {
		name  string
		delta *model.Delta
		id    string
		hook  stage.Hook
		rules []string // Expr of the rules named
		ratio float64
		check func(t *testing.T, r *Report, f *Finding)
	}{
		{name: "a DROP rule's counter moved (counters only)",
			delta: newDelta().snmp(fwTraffic).firewall(firewall(jump,
				model.FirewallRule{Chain: "udp_in", Expr: "udp dport 9000 counter packets 0 bytes 0 drop", Drop: true, Counter: true, Packets: 16000},
				model.FirewallRule{Chain: "forward", Expr: "counter drop", Drop: true, Counter: true})).build(),
			id: "netfilter/host/input", hook: stage.HookInput, rules: []string{"udp dport 9000 counter packets 0 bytes 0 drop"}, ratio: 1,
			check: func(t *testing.T, r *Report, f *Finding) {
				if f.Rules[0].Handle != 3 || f.Rules[0].Chain != "udp_in" || f.Rules[0].Packets == nil || *f.Rules[0].Packets != 16000 ||
					!strings.Contains(f.Summary, "inet filter udp_in handle 3: udp dport 9000") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "the same rule confirmed by NETFILTER_DROP",
			delta: newDelta().snmp(fwTraffic).inPath(nfDrops(16000)).firewall(firewall(jump,
				model.FirewallRule{Chain: "udp_in", Expr: "udp dport 9000 counter drop", Drop: true, Counter: true, Packets: 16000})).build(),
			id: "netfilter/host/input", hook: stage.HookInput, rules: []string{"udp dport 9000 counter drop"}, ratio: 1,
			check: func(t *testing.T, r *Report, f *Finding) {
				if len(r.Findings) != 1 || len(f.Reasons) != 1 || f.Reasons[0].Count != 16000 {
					t.Errorf("findings %+v", r.Findings)
				}
			}},
		{name: "the only DROP of the ruleset, no counter",
			delta: newDelta().snmp(fwTraffic).inPath(nfDrops(16000)).firewall(firewall(jump,
				model.FirewallRule{Chain: "udp_in", Expr: "udp dport 9000 drop", Drop: true},
				model.FirewallRule{Chain: "orphan", Expr: "drop", Drop: true})).build(),
			id: "netfilter/host/input", hook: stage.HookInput, rules: []string{"udp dport 9000 drop"}, ratio: 1,
			check: func(t *testing.T, r *Report, f *Finding) {
				if !strings.Contains(f.Summary, "the only DROP in the ruleset is inet filter udp_in: udp dport 9000 drop") {
					t.Errorf("summary %q", f.Summary)
				}
			}},
		{name: "a chain policy and a rule in one hook",
			delta: newDelta().snmp(fwTraffic).inPath(nfDrops(8000)).firewall(func() *model.Firewall {
				fw := firewall(model.FirewallRule{Chain: "input", Expr: "tcp dport 22 drop", Drop: true})
				fw.Chains[0].PolicyDrop = true
				return fw
			}()).build(),
			id: "netfilter/host/input", hook: stage.HookInput, rules: []string{"policy drop", "tcp dport 22 drop"}, ratio: 0.5,
			check: func(t *testing.T, r *Report, f *Finding) {
				if !hasAdvice(r, "nft --handle list ruleset") {
					t.Errorf("advice %v", r.Advice)
				}
			}},
		{name: "DROPs in two hooks",
			delta: newDelta().snmp(fwTraffic).inPath(nfDrops(8000)).firewall(firewall(
				model.FirewallRule{Chain: "input", Expr: "tcp dport 22 drop", Drop: true},
				model.FirewallRule{Chain: "forward", Expr: "drop", Drop: true})).build(),
			id: "netfilter/host", rules: []string{"drop", "tcp dport 22 drop"}, ratio: 0.5,
			check: func(t *testing.T, r *Report, f *Finding) {
				if !strings.Contains(f.Summary, "one of the hooks forward, input") || !hasAdvice(r, "nft --handle list ruleset") {
					t.Errorf("summary %q advice %v", f.Summary, r.Advice)
				}
			}},
		{name: "the ruleset could not be read",
			delta: newDelta().snmp(fwTraffic).inPath(nfDrops(8000)).firewall(&model.Firewall{Unreadable: "operation not permitted"}).build(),
			id:    "netfilter/host", ratio: 0.5,
			check: func(t *testing.T, r *Report, f *Finding) {
				if !strings.Contains(f.Summary, "could not be read: operation not permitted") {
					t.Errorf("summary %q", f.Summary)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := analyze(t, tc.delta, DefaultConfig())
			f := byID(r, tc.id)
			if f == nil {
				t.Fatalf("no finding %s: %+v", tc.id, r.Findings)
			}
			var exprs []string
			for _, x := range f.Rules {
				exprs = append(exprs, x.Expr)
			}
			if f.Stage != stage.Netfilter || f.Class != stage.ClassPolicy || f.Hook != tc.hook || f.Ratio != tc.ratio ||
				!reflect.DeepEqual(exprs, tc.rules) || f.Severity != SeverityWarning || len(f.Knobs) != 0 {
				t.Errorf("finding %+v, rules %q", f, exprs)
			}
			if tc.check != nil {
				tc.check(t, r, f)
			}
		})
	}
}

// Check catches each broken invariant.
func TestCheck(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 9000, "Udp.RcvbufErrors": 1000, "Udp.NoPorts": 100}).build()
	good := func() *Report { return AnalyzeWith(d, Settings{}, DefaultConfig()) }
	if err := Check(good(), d); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	for name, tc := range map[string]struct {
		breakIt func(r *Report)
		want    string
	}{
		"two findings of one place": {func(r *Report) { r.Findings = append(r.Findings, r.Findings[0]) }, "share the population"},
		"counted twice": {func(r *Report) { r.Findings[0].DropRate *= 2 },
			`were observed (findings: udp-rcvbuf/host 200.0/s, socket-lookup/host/udp 10.0/s; observed: socket-lookup 10.0/s ["udp" 100/0], udp-rcvbuf 100.0/s ["" 1000/0])`},
		"benign critical": {func(r *Report) { r.Findings[1].Severity = SeverityCritical }, "benign finding socket-lookup/host/udp is critical"},
		"benign first": {func(r *Report) { r.Findings[0], r.Findings[1] = r.Findings[1], r.Findings[0] },
			"capacity loss udp-rcvbuf/host comes after finding socket-lookup/host/udp"},
		"a stage off the path": {func(r *Report) { r.Findings[1].Stage = "no-listener" }, "not a point of the path"},
		"an action lowering":   {func(r *Report) { r.Plan[0].Proposed = "1" }, "lowers"},
		"an action for benign": {func(r *Report) { r.Plan[0].Findings = []string{"socket-lookup/host/udp"} }, "earns no action"},
	} {
		r := good()
		tc.breakIt(r)
		if err := Check(r, d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// Drop reasons of two classes at one place no counter shows are one population: their
// drops add up.
func TestReasonsOfOnePlaceAddUp(t *testing.T) {
	d := newDelta().link("eth0", stats(func(s *model.LinkStats) { s.TxPackets = 7000 })).inPath(&model.InPath{Drops: []model.DropCount{
		{Reason: "QDISC_DROP", Link: "eth0", Location: "__dev_queue_xmit+0x1", Count: 2000},
		{Reason: "QDISC_CONGESTED", Link: "eth0", Location: "codel_qdisc_dequeue+0x1", Count: 1000}}}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 1 || r.Findings[0].DropRate != 300 || r.Findings[0].Class != stage.ClassCapacity || len(r.Findings[0].Reasons) != 2 {
		t.Fatalf("findings %+v", r.Findings)
	}
}
