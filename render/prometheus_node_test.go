package render

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/golden"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// promNodeResult is a node's interval: a quiet host, a pod that loses packets (lossResult's
// report), a named namespace where only the drop tracer saw drops, quiet namespaces, one that
// vanished and one that appeared.
func promNodeResult() *pipeline.NodeResult {
	loss, clean := lossResult(), cleanResult()
	res := &pipeline.NodeResult{Meta: clean.Meta,
		Vanished: []netnsfind.ID{{Dev: 4, Ino: 4026532900}}, Appeared: []netnsfind.ID{{Dev: 4, Ino: 4026532901}}}
	res.Namespaces = append(res.Namespaces, pipeline.NamespaceResult{
		Namespace: netnsfind.Namespace{ID: netnsfind.ID{Dev: 4, Ino: 4026531840}, Host: true}, Own: true,
		Owner: owner.Owner{Host: true}, Delta: clean.Delta, Report: clean.Report})
	res.Namespaces = append(res.Namespaces, pipeline.NamespaceResult{
		Namespace: netnsfind.Namespace{ID: netnsfind.ID{Dev: 4, Ino: 4026532001}, PIDs: []int{4242}},
		Owner: owner.Owner{Pod: owner.Pod{Namespace: "default", Name: "dns-0", UID: "6f1c"},
			Containers: []owner.Container{{ID: "aa11", Sandbox: true}, {ID: "bb22", Name: "coredns"}, {ID: "cc33445566778899", Name: ""}},
			Source:     owner.SourceCRI},
		Delta: loss.Delta, Report: loss.Report})
	dropping := &model.Delta{Interval: loss.Delta.Interval, Cur: &model.Sample{Time: loss.Delta.Cur.Time},
		InPath: &model.InPath{Drops: []model.DropCount{
			{Reason: "NO_SOCKET", Netns: 4026532002, Ifindex: 2, Link: "eth0", Location: "__udp4_lib_rcv+0x9a", Count: 40},
			{Reason: "NO_SOCKET", Netns: 4026532001, Ifindex: 7, Link: "veth1", Location: "__udp4_lib_rcv+0x9a", Count: 7}}}}
	res.Namespaces = append(res.Namespaces, pipeline.NamespaceResult{
		Namespace: netnsfind.Namespace{ID: netnsfind.ID{Dev: 4, Ino: 4026532002}, Names: []string{"web"}},
		Delta:     dropping, Report: &policy.Report{IntervalSeconds: 10}})
	for i := range 3 {
		res.Namespaces = append(res.Namespaces, pipeline.NamespaceResult{
			Namespace: netnsfind.Namespace{ID: netnsfind.ID{Dev: 4, Ino: 4026532100 + uint64(i)}},
			Delta:     clean.Delta, Report: clean.Report})
	}
	return res
}

func promNode(t *testing.T, res *pipeline.NodeResult, o MetricOptions, maxNamespaces int) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMetrics(&b, NodeMetrics(res, o, maxNamespaces)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPrometheusNodeGolden(t *testing.T) {
	golden.Check(t, "testdata/node.prom", []byte(promNode(t, promNodeResult(), MetricOptions{}, DefaultMaxNamespaces)))
}

// TestPrometheusNodeSeries checks what docs/operations.md promises of a node's series.
func TestPrometheusNodeSeries(t *testing.T) {
	out := promNode(t, promNodeResult(), MetricOptions{}, DefaultMaxNamespaces)
	for _, want := range []string{
		// The host keeps its own series; loss anywhere on the node is nettune_loss.
		`nettune_loss 1`,
		`nettune_interval_seconds 10`,
		`nettune_namespaces{state="examined"} 6`,
		`nettune_namespaces{state="lossy"} 1`,
		`nettune_namespaces{state="dropping"} 1`, // web alone: the drop of another inode in its delta is not its own
		`nettune_namespaces{state="vanished"} 1`,
		`nettune_namespaces{state="appeared"} 1`,
		`nettune_namespaces_cut 0`,
		// The pod by its owner; the sandbox is no container of its own; an unnamed one is its short ID.
		`nettune_netns_loss{container="cc3344556677,coredns",namespace="default",netns="4026532001",pod="dns-0"} 1`,
		`nettune_netns_finding_drop_packets_per_second{class="capacity",container="cc3344556677,coredns",device="",namespace="default",netns="4026532001",pod="dns-0",stage="udp-rcvbuf"} 1234.5`,
		`nettune_netns_funnel_dropped_packets_total{container="cc3344556677,coredns",device="",dir="rx",namespace="default",netns="4026532001",pod="dns-0",stage="udp-rcvbuf"} 250000`,
		// Drops the tracer saw in a namespace without loss name it too, by its ip netns name.
		`nettune_netns_loss{container="",namespace="",netns="web",pod=""} 0`,
		`nettune_netns_drop_reason_packets_per_second{container="",device="eth0",namespace="",netns="web",pod="",reason="NO_SOCKET"} 4`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	for _, absent := range []string{`netns="4026532100"`, `netns="4026532101"`} {
		if strings.Contains(out, absent) {
			t.Errorf("a quiet namespace has series: %s", absent)
		}
	}
	// The host's series are those of the same report rendered alone.
	host := promNodeResult().Namespaces[0]
	single := string(prom(t, &pipeline.Result{Meta: promNodeResult().Meta, Delta: host.Delta, Report: host.Report}, nil))
	for _, line := range strings.Split(single, "\n") {
		if line != "" && !strings.HasPrefix(line, "nettune_loss ") && !strings.Contains(out, line+"\n") {
			t.Errorf("host series changed: %s", line)
		}
	}
}

// TestPrometheusNodeCap: beyond the cap the namespaces that lost least are cut and counted;
// the lossy one stays first.
func TestPrometheusNodeCap(t *testing.T) {
	res := promNodeResult()
	for _, c := range []struct {
		max      int
		cut      int
		pod, web bool
	}{{0, 2, false, false}, {1, 1, true, false}, {2, 0, true, true}, {-1, 2, false, false}} {
		out := promNode(t, res, MetricOptions{}, c.max)
		if !strings.Contains(out, fmt.Sprintf("nettune_namespaces_cut %d\n", c.cut)) {
			t.Errorf("max %d: cut is not %d", c.max, c.cut)
		}
		if got := strings.Contains(out, `pod="dns-0"`); got != c.pod {
			t.Errorf("max %d: pod series %v, want %v", c.max, got, c.pod)
		}
		if got := strings.Contains(out, `netns="web"`); got != c.web {
			t.Errorf("max %d: web series %v, want %v", c.max, got, c.web)
		}
	}
}

func TestPrometheusNodePromtool(t *testing.T) {
	tool := promtool(t)
	for name, o := range map[string]MetricOptions{"plain": {}, "options": fullOptions()} {
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = strings.NewReader(promNode(t, promNodeResult(), o, DefaultMaxNamespaces))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", name, err, b)
		}
	}
}
