package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/golden"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

const (
	cid  = "4f1c2a9e0b7d3c5a8e6f1029384756abcdef0123456789abcdef0123456789ab"
	sbid = "9a8b7c6d5e4f30211203948576abcdef0123456789abcdef0123456789abcdef"
)

// nodeResult is a node of five namespaces: a pod losing UDP datagrams (named by the CRI),
// a namespace of `unshare --net` losing fewer (named by nothing but its process, the
// runtime's socket absent), and the quiet host, a quiet `ip netns` one and a quiet pod; one
// namespace vanished and one appeared during the interval.
func nodeResult() *pipeline.NodeResult {
	loss := lossResult()
	m := loss.Meta
	m.Coverage = &model.Coverage{Asked: 5, Watched: 4, Gaps: []model.Gap{{Netns: 4026532900, Reason: model.GapAppeared,
		Detail: "appeared after the probes were attached"}}}
	podReport := *loss.Report
	podReport.Netns = "/var/run/netns/cni-1c2d"
	podReport.Missing = nil
	podReport.Findings = renetns(podReport.Findings, "/var/run/netns/cni-1c2d")
	podReport.Plan = append([]policy.Action{}, podReport.Plan...)
	podReport.Plan[0].Findings = []string{podReport.Findings[0].ID}
	podReport.Funnel = append([]policy.Funnel{}, podReport.Funnel...)
	for i := range podReport.Funnel {
		podReport.Funnel[i].Netns = "/var/run/netns/cni-1c2d"
	}

	small := udpLoss("/proc/4242/ns/net", 210, 0.07)
	quiet := func(path string) *policy.Report { return &policy.Report{IntervalSeconds: 10, Netns: path} }
	host := quiet("")
	host.Missing = []string{"interrupts: open /proc/interrupts: permission denied"}
	d := &model.Delta{Interval: 10 * time.Second}
	return &pipeline.NodeResult{Meta: m,
		Namespaces: []pipeline.NamespaceResult{
			{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026531840}, Host: true}, Own: true,
				Owner: owner.Owner{Host: true, Source: owner.SourceCgroup}, Delta: d, Report: host},
			{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532301}, Names: []string{"lab"}, Mounts: []string{"/run/netns/lab"}},
				Owner: owner.Owner{Source: owner.SourceCgroup}, Delta: d, Report: quiet("/run/netns/lab")},
			{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532402}, Names: []string{"cni-1c2d"}, Mounts: []string{"/var/run/netns/cni-1c2d"}, PIDs: []int{3100, 3170}},
				Owner: owner.Owner{Pod: owner.Pod{Namespace: "default", Name: "dns-0", UID: "0e2f6a1b-7c3d-4e5f-9a8b-1c2d3e4f5a6b"},
					Containers: []owner.Container{{ID: sbid, Runtime: owner.Containerd, Sandbox: true}, {ID: cid, Name: "coredns", Runtime: owner.Containerd}},
					Processes:  []owner.Process{{PID: 3100, Comm: "pause", Cgroup: owner.Cgroup{ContainerID: sbid}}, {PID: 3170, Comm: "coredns", Cgroup: owner.Cgroup{ContainerID: cid}}},
					Source:     owner.SourceCRI, Endpoint: "/run/containerd/containerd.sock"},
				Delta: d, Report: &podReport},
			{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532503}, PIDs: []int{4242}},
				Owner: owner.Owner{Processes: []owner.Process{{PID: 4242, Comm: "udp-sink", Cgroup: owner.Cgroup{Path: "/user.slice/session-3.scope"}}},
					Source: owner.SourceCgroup, Fallback: "no CRI socket reachable (/run/containerd/containerd.sock: no such file or directory); no /var/log/pods"},
				Delta: d, Report: small},
			{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532604}, Mounts: []string{"/var/run/netns/cni-77aa"}, PIDs: []int{5100}},
				Owner: owner.Owner{Pod: owner.Pod{Namespace: "kube-system", Name: "metrics-0"}, Source: owner.SourcePodLogs, Endpoint: "/var/log/pods"},
				Delta: d, Report: quiet("/var/run/netns/cni-77aa")},
		},
		Vanished: []netnsfind.ID{{Ino: 4026532705}},
		Appeared: []netnsfind.ID{{Ino: 4026532900}},
		Errors:   []string{"netns net:[4026532800]: open netlink: permission denied"},
	}
}

func renetns(fs []policy.Finding, ns string) []policy.Finding {
	out := make([]policy.Finding, len(fs))
	for i, f := range fs {
		f.Netns = ns
		f.ID = strings.Replace(f.ID, "/web", "/"+strings.ReplaceAll(strings.Trim(ns, "/"), "/", "_"), 1)
		out[i] = f
	}
	return out
}

// udpLoss is a report of UDP receive-buffer loss at rate (per second) and ratio.
func udpLoss(ns string, rate, ratio float64) *policy.Report {
	id := "udp-rcvbuf/" + strings.ReplaceAll(strings.Trim(ns, "/"), "/", "_")
	return &policy.Report{IntervalSeconds: 10, Netns: ns,
		Findings: []policy.Finding{{ID: id, Stage: stage.UDPRcvbuf, Class: stage.ClassCapacity, Severity: policy.SeverityWarning,
			Netns: ns, Summary: "UDP sockets overflow their receive buffers.", DropRate: rate, Ratio: ratio,
			Evidence: []policy.Evidence{{Counter: "Udp.RcvbufErrors", Delta: uint64(rate * 10), Rate: rate, Of: "Udp.InDatagrams", Ratio: ratio}}}},
		Plan: []policy.Action{{Knob: "sysctl:net.core.rmem_default", Current: "212992", Proposed: "425984",
			Command: "sysctl -w net.core.rmem_default=425984", Scope: model.ScopeGlobal, Findings: []string{id},
			Why: "apps that never call setsockopt(SO_RCVBUF) get rmem_default"}},
	}
}

// The node's table at 80 and 160 columns (and --all), its JSON and its page: golden files
// (go test ./render -update).
func TestNodeGoldens(t *testing.T) {
	for _, width := range []int{80, 160} {
		var b bytes.Buffer
		if err := NodeTableLook(&b, nodeResult(), Look{Width: width}); err != nil {
			t.Fatal(err)
		}
		file := fmt.Sprintf("node/table_%d", width)
		golden.Check(t, "testdata/"+file+".txt", b.Bytes())
		checkWidth(t, file, b.String(), width)
	}
	var b bytes.Buffer
	if err := NodeTableLook(&b, nodeResult(), Look{Width: 80, All: true}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/node/table_80_all.txt", b.Bytes())
	for _, f := range []Format{FormatJSON, FormatHTML} {
		b.Reset()
		if err := NodeAdvise(&b, f, nodeResult()); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/node/node."+string(f), b.Bytes())
	}
}

// The node's verdict names the worst namespace by its owner, the blocks come worst first,
// the quiet namespaces are one line, and the JSON has every namespace with its owner.
func TestNodeReport(t *testing.T) {
	var b bytes.Buffer
	if err := NodeTable(&b, nodeResult()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	verdict, _, _ := strings.Cut(out[strings.Index(out, "VERDICT: "):], "\n")
	if !strings.Contains(verdict, "udp-rcvbuf in pod default/dns-0") {
		t.Errorf("verdict does not name the pod: %q", verdict)
	}
	pod, unshared := strings.Index(out, "━━ 1/2  pod default/dns-0"), strings.Index(out, "━━ 2/2  netns of pid 4242 udp-sink")
	if pod < 0 || unshared < pod {
		t.Errorf("blocks are not the lossy namespaces, worst first:\n%s", out)
	}
	for _, want := range []string{"containers: sandbox containerd 9a8b7c6d5e4f, coredns (containerd 4f1c2a9e0b7d)",
		"processes: 3100 pause, 3170 coredns", "attribution: cri (/run/containerd/containerd.sock)",
		"attribution: cgroup; no CRI socket reachable", "3 quiet namespaces (no loss in this interval): the host, 1 pod, 1 named netns; --all lists them.",
		"1 namespace vanished during the interval (left out); 1 appeared"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	if err := NodeJSON(&b, nodeResult()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema     string `json:"schema"`
		Loss       bool   `json:"loss"`
		Verdict    string `json:"verdict"`
		Namespaces []struct {
			ID    string `json:"id"`
			Loss  bool   `json:"loss"`
			Place string `json:"place"`
			Owner struct {
				Pod *struct {
					Namespace, Name string
				} `json:"pod"`
				Source string `json:"source"`
			} `json:"owner"`
			Findings []struct {
				ID string `json:"id"`
			} `json:"findings"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != NodeSchema || !doc.Loss || doc.Verdict != "net:[4026532402]" || len(doc.Namespaces) != 5 {
		t.Fatalf("node document: %+v", doc)
	}
	first := doc.Namespaces[0]
	if first.ID != "net:[4026532402]" || !first.Loss || first.Place != "in pod default/dns-0" ||
		first.Owner.Pod == nil || first.Owner.Pod.Name != "dns-0" || first.Owner.Source != "cri" ||
		first.Findings[0].ID != "udp-rcvbuf/var_run_netns_cni-1c2d" {
		t.Errorf("first namespace: %+v", first)
	}
}
