package render

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// lossDelta is the interval behind lossReport: drop reasons from the tracer, a counter reset,
// and map errors since the probes were attached.
func lossDelta() *model.Delta {
	return &model.Delta{
		Interval: 10 * time.Second,
		Cur: &model.Sample{Time: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC),
			InPath: &model.InPath{MapErrors: 2}},
		InPath: &model.InPath{Drops: []model.DropCount{
			{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 11000},
			{Reason: "SOCKET_RCVBUFF", Location: "udp_queue_rcv_one_skb+0x1c", Count: 900},
			{Reason: "NO_SOCKET", Ifindex: 7, Link: "veth1", Location: "__udp4_lib_rcv+0x9a", Count: 30},
		}},
		Resets: []string{"veth1 rx_dropped"},
	}
}

// fullOptions turns on every optional series.
func fullOptions() MetricOptions {
	return MetricOptions{
		PerQueue: true,
		Overhead: &Overhead{CollectSeconds: 0.0042, AnalyzeSeconds: 0.0003},
		Applied:  []AppliedChange{{Knob: "sysctl:net.core.rmem_default", Time: 1772366400}},
	}
}

func prom(t *testing.T, res *pipeline.Result, o *MetricOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if o == nil {
		err = Prometheus(&b, res)
	} else {
		err = WriteMetrics(&b, Metrics(res, *o))
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPrometheusOptionsGolden: every optional series (the plain output is in
// TestCommandsGolden).
func TestPrometheusOptionsGolden(t *testing.T) {
	opts := fullOptions()
	golden(t, "loss_options.prom", prom(t, lossResult(), &opts))
}

// TestPrometheusSeries checks the promises docs/operations.md makes about the series.
func TestPrometheusSeries(t *testing.T) {
	out := string(prom(t, lossResult(), nil))
	for _, want := range []string{
		`nettune_funnel_drop_packets_per_second{dir="rx",interface="",netns="web",stage="udp-rcvbuf"} 1234.5`,
		`nettune_finding_drop_ratio{class="capacity",interface="",netns="web",stage="udp-rcvbuf"} 0.452`,
		`nettune_finding_severity{class="benign",interface="",netns="web",stage="socket-lookup"} 0`,
		`nettune_findings{class="capacity",severity="critical",stage="udp-rcvbuf"} 1`,
		// Two locations of one reason are one series; rates are per second.
		`nettune_drop_reason_packets_per_second{interface="",reason="SOCKET_RCVBUFF"} 1190`,
		`nettune_bpf_attribution_ratio 0.96`,
		`nettune_bpf_map_errors_total 2`,
		// Partial in-path coverage is a series, never only a note.
		`nettune_bpf_links_asked 2`,
		`nettune_bpf_links_watched 1`,
		`nettune_bpf_coverage_gaps{hook="xdp",reason="foreign-program"} 1`,
		`nettune_loss 1`,
		"# TYPE nettune_bpf_map_errors_total counter",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(out, "nettune_queue_") || strings.Contains(out, "queue=") {
		t.Error("per-queue series without MetricOptions.PerQueue")
	}
	opts := fullOptions()
	out = string(prom(t, lossResult(), &opts))
	if !strings.Contains(out, `nettune_queue_funnel_in_packets_per_second{dir="rx",interface="veth1",netns="web",queue="0",stage="xdp"} 2730`) {
		t.Error("per-queue funnel missing with PerQueue")
	}
}

// TestPrometheusDuplicateRejected: two funnel rows for the same series are a policy bug that
// the output must report, not hide by writing both.
func TestPrometheusDuplicateRejected(t *testing.T) {
	r := &policy.Report{Funnel: []policy.Funnel{{Dir: "rx", Stages: []policy.FunnelStage{
		{Stage: stage.UDPRcvbuf, DropRate: 1}, {Stage: stage.UDPRcvbuf, DropRate: 2}}}}}
	if err := Prometheus(io.Discard, &pipeline.Result{Report: r}); err == nil {
		t.Fatal("duplicate series accepted")
	}
}

// promtool finds promtool; it may be missing on a developer's machine, never in CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found on PATH: make test unpacks it from Debian's prometheus package into .cache")
		}
		t.Skip("promtool not found on PATH (make test unpacks it from Debian's prometheus package into .cache, installing nothing)")
	}
	return p
}

func TestPrometheusPromtool(t *testing.T) {
	tool := promtool(t)
	opts := fullOptions()
	for name, out := range map[string][]byte{
		"loss":    prom(t, lossResult(), nil),
		"options": prom(t, lossResult(), &opts),
		"clean":   prom(t, cleanResult(), nil),
	} {
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", name, err, b)
		}
	}
}
