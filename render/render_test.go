package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

func intp(i int) *int { return &i }

// lossResult is a UDP receive-buffer overflow in a netns plus a benign port scan.
func lossResult() *pipeline.Result {
	attr := 0.96
	m := pipeline.Meta{Host: "node-1", Kernel: "6.18.44", Mode: "counters+bpf", XDPMode: "off",
		BPFNote: "xdp off: auto never attaches native XDP to veth",
		Foreign: []model.ForeignProg{{Netns: 4026532001, Link: "eth1", Hook: "xdp", ID: 42, Name: "xdp_fw", Mode: "native"}},
		Coverage: &model.Coverage{Asked: 2, Watched: 1, Gaps: []model.Gap{{Netns: 4026532001, Link: "eth1", Hook: "xdp",
			Reason: model.GapForeign, Detail: `program 42 "xdp_fw" (native)`}},
			PerNetns: []model.NetnsCoverage{{Netns: 4026532001, Asked: 2, Watched: 1}}}}
	r := &policy.Report{
		IntervalSeconds: 10,
		Netns:           "web",
		Attribution:     &attr,
		Findings: []policy.Finding{{
			ID: "udp-rcvbuf/web", Stage: stage.UDPRcvbuf, Class: stage.ClassCapacity, Severity: policy.SeverityCritical,
			Netns: "web", Summary: "UDP sockets overflow their receive buffers; apps that never set SO_RCVBUF get rmem_default.",
			DropRate: 1234.5, Ratio: 0.452,
			Evidence: []policy.Evidence{{Counter: "Udp.RcvbufErrors", Delta: 12345, Rate: 1234.5, Of: "Udp.InDatagrams", Ratio: 0.452}},
			Reasons:  []policy.DropReason{{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 11900, Rate: 1190}},
			Knobs:    []string{"sysctl:net.core.rmem_default"},
		}, {
			ID: "socket-lookup/web/udp", Stage: stage.SocketLookup, Class: stage.ClassBenign, Severity: policy.SeverityInfo,
			Netns: "web", Summary: "UDP to closed ports (scans or stale clients): nothing to tune.", DropRate: 3, Ratio: 0.001,
			Evidence: []policy.Evidence{{Counter: "Udp.NoPorts", Delta: 30, Rate: 3}},
		}},
		Plan: []policy.Action{{
			Knob: "sysctl:net.core.rmem_default", Current: "212992", Proposed: "425984",
			Command: "sysctl -w net.core.rmem_default=425984", MemoryBytes: 425984 * 2, Risk: "every new socket gets the larger buffer",
			Scope: model.ScopeGlobal, Findings: []string{"udp-rcvbuf/web"}, Why: "apps that never call setsockopt(SO_RCVBUF) get rmem_default",
		}},
		Funnel: []policy.Funnel{{Interface: "veth1", Netns: "web", Dir: "rx", Queue: intp(0), Stages: []policy.FunnelStage{
			{Stage: stage.XDP, Point: "xdp", InRate: 2730, OutRate: 2730, Known: true, InKnown: true, OutKnown: true},
			{Stage: stage.TCIngress, Point: "tc-ingress", InRate: 2730, OutRate: 2730, Known: true, InKnown: true, OutKnown: true},
		}}, {Netns: "web", Dir: "rx", Stages: []policy.FunnelStage{
			{Stage: stage.UDPRcvbuf, Point: "Udp.InDatagrams", InRate: 2730, OutRate: 1495.5, DropRate: 1234.5, Known: true, InKnown: true, OutKnown: true},
		}}},
		Advice:  []string{"net.core.rmem_max is set in /etc/sysctl.d/90-net.conf: left alone"},
		Missing: []string{"interrupts: open /proc/interrupts: permission denied"},
	}
	return &pipeline.Result{Meta: m, Report: r, Delta: lossDelta()}
}

func cleanResult() *pipeline.Result {
	return &pipeline.Result{Meta: pipeline.Meta{Host: "node-1", Kernel: "6.18.44", Mode: "counters"},
		Report: &policy.Report{IntervalSeconds: 10}, Delta: &model.Delta{Interval: 10 * time.Second}}
}

var results = map[string]func() *pipeline.Result{"loss": lossResult, "clean": cleanResult}

// TestJSONContract checks the fields the issue promises consumers, by name, so a refactor of
// the Go types cannot silently break the schema.
func TestJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, lossResult()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != Schema {
		t.Errorf("schema = %v", doc["schema"])
	}
	// The report's namespace and the metadata once: two fields named netns at one depth
	// made encoding/json drop both.
	for k, want := range map[string]any{"netns": "web", "host": "node-1", "mode": "counters+bpf", "bpf_attribution": 0.96} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %v", k, doc[k], want)
		}
	}
	f := doc["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"stage", "class", "severity", "netns", "evidence"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	if f["severity"] != "critical" || f["class"] != "capacity" || f["stage"] != "udp-rcvbuf" {
		t.Errorf("finding = %v", f)
	}
	a := doc["plan"].([]any)[0].(map[string]any)
	for _, k := range []string{"knob", "current", "proposed", "scope", "findings"} {
		if _, ok := a[k]; !ok {
			t.Errorf("plan action lacks %q", k)
		}
	}
	if _, ok := doc["funnel"].([]any); !ok {
		t.Error("funnel missing")
	}
	cov, _ := doc["bpf_coverage"].(map[string]any)
	gaps, _ := cov["gaps"].([]any)
	if cov["asked"] != 2.0 || cov["watched"] != 1.0 || len(gaps) != 1 || gaps[0].(map[string]any)["reason"] != "foreign-program" {
		t.Errorf("bpf_coverage = %v, want 1 of 2 watched, one foreign-program gap", cov)
	}
	b.Reset()
	_ = JSON(&b, cleanResult())
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"findings", "plan", "funnel"} {
		if _, ok := doc[k].([]any); !ok {
			t.Errorf("%s must be an array even when empty, got %v", k, doc[k])
		}
	}
}

// TestVerdictSaysWhatWasNotMeasured: without the core counters a report without findings is
// no evidence of no loss, and its verdict must not say so.
func TestVerdictSaysWhatWasNotMeasured(t *testing.T) {
	res := cleanResult()
	res.Report.Unmeasured = []string{"per-CPU backlog counters (/proc/net/softnet_stat): backlog and budget drops"}
	var b bytes.Buffer
	if err := Table(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "no packet loss found") || !strings.Contains(out, "were not: per-CPU backlog") {
		t.Fatalf("verdict:\n%s", out)
	}
}
