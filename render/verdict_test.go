package render

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// mixedResult is what the policy makes of an interval where causes mix: a UDP receive-buffer
// overflow (critical), backlog drops (a warning, but earlier in the plan), a firewall rule
// dropping at the input hook that only drop reasons show, and a port scan.
func mixedResult() *pipeline.Result {
	cur := &model.Sample{Time: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), NCPU: 2, Netns: "web",
		Sysctls: map[string]string{"net.core.rmem_default": "212992", "net.core.rmem_max": "4194304", "net.core.netdev_max_backlog": "1000"}}
	d := &model.Delta{Interval: 10 * time.Second, Cur: cur, Prev: &model.Sample{},
		SNMP: map[string]uint64{"Ip.InReceives": 200000, "Ip6.InReceives": 0, "Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000,
			"Udp.NoPorts": 4000},
		Softnet: []model.SoftnetCPU{{CPU: 0, Processed: 99500, Dropped: 500}, {CPU: 1, Processed: 100000}},
		InPath: &model.InPath{Drops: []model.DropCount{
			{Reason: "NETFILTER_DROP", Location: "nf_hook_slow+0x9a", Count: 16000},
			{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 9900}}},
		Firewall: &model.Firewall{Chains: []model.FirewallChain{{Family: "inet", Table: "filter", Name: "input", Hook: "input", Type: "filter"}},
			Rules: []model.FirewallRule{{Family: "inet", Table: "filter", Chain: "input", Handle: 7, Expr: "udp dport 9000 drop", Drop: true}}},
	}
	return &pipeline.Result{Meta: pipeline.Meta{Host: "node-1", Kernel: "6.18.44", Mode: "counters+bpf"},
		Delta: d, Report: policy.Analyze(d, policy.DefaultConfig())}
}

func init() {
	commands["advise_mixed"] = struct {
		formats []Format
		write   func(w io.Writer, f Format) error
	}{[]Format{FormatTable, FormatJSON, FormatPrometheus}, func(w io.Writer, f Format) error { return Advise(w, f, mixedResult()) }}
}

// Issue 12, cases 4 and 9: the verdict names capacity loss first, and its change says which
// plan step it is, and why the plan starts elsewhere.
func TestVerdictNamesItsPlanStep(t *testing.T) {
	res := mixedResult()
	if err := policy.Check(res.Report, res.Delta); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"VERDICT: packets are lost at udp-rcvbuf (netns web)",
		"Change: plan step 2 of 3: sysctl -w net.core.rmem_default=425984",
		"Step 1 comes first: the plan changes the lowest stage of the path first (sysctl:net.core.netdev_max_backlog).",
		"netfilter (input hook, netns web), policy class",
		"rule: inet filter input handle 7 (input hook): udp dport 9000 drop",
		"no counter shows these drops; checked: nf_conntrack drop and insert_failed; nftables rule counters",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	b.Reset()
	if err := JSON(&b, res); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []policy.Finding `json:"findings"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Findings[0].Class != "capacity" || doc.Findings[0].ID != "udp-rcvbuf/web" {
		t.Errorf("JSON starts with %+v", doc.Findings[0])
	}
	for _, f := range doc.Findings {
		if f.Class != "capacity" && f.Severity > policy.SeverityWarning {
			t.Errorf("%s finding %s is %s", f.Class, f.ID, f.Severity)
		}
	}
}
