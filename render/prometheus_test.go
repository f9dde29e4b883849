package render

import (
	"bytes"
	"github.com/nettune/nettune/internal/golden"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// lossDelta is the interval behind lossReport: drop reasons from the tracer, a counter reset,
// and map errors since the probes were attached. Its last sample holds the counters since
// boot (the funnel counters) and the tracer's counts since the probes were attached.
func lossDelta() *model.Delta {
	return &model.Delta{
		Interval: 10 * time.Second,
		Cur: &model.Sample{Time: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), Netns: "web",
			Links: []model.Link{{Name: "veth1", Index: 7, Kind: "veth", Driver: "veth",
				Stats: model.LinkStats{RxPackets: 5000000, TxPackets: 4000000, RxDropped: 12}}},
			SNMP: map[string]uint64{"Udp.InDatagrams": 9000000, "Udp.RcvbufErrors": 250000, "Udp.InErrors": 250000,
				"Udp.NoPorts": 300, "Udp.OutDatagrams": 4000000},
			InPath: &model.InPath{MapErrors: 2, Points: []model.PointCount{
				{Point: model.PointXDP, Ifindex: 7, Link: "veth1", Queue: 0, Packets: 4000000},
				{Point: model.PointTCIngress, Ifindex: 7, Link: "veth1", Queue: 0, Packets: 3999000},
			}, Drops: []model.DropCount{
				{Reason: "SOCKET_RCVBUFF", Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 52000},
				{Reason: "NO_SOCKET", Ifindex: 7, Link: "veth1", Location: "__udp4_lib_rcv+0x9a", Count: 90},
			}}},
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
		PerQueue:    true,
		ProbeTotals: true,
		Overhead:    &Overhead{CollectSeconds: 0.0042, AnalyzeSeconds: 0.0003},
		Applied:     []AppliedChange{{Knob: "sysctl:net.core.rmem_default", Time: 1772366400}},
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
	golden.Check(t, "testdata/loss_options.prom", prom(t, lossResult(), &opts))
}

// TestPrometheusSeries checks the promises docs/operations.md makes about the series.
func TestPrometheusSeries(t *testing.T) {
	out := string(prom(t, lossResult(), nil))
	for _, want := range []string{
		// Counters since boot, from the kernel's counters of the interval's last sample.
		`nettune_funnel_dropped_packets_total{device="",dir="rx",netns="web",stage="udp-rcvbuf"} 250000`,
		`nettune_funnel_out_packets_total{device="veth1",dir="rx",netns="web",stage="rx-ring"} 5e+06`,
		`nettune_finding_drop_ratio{class="capacity",device="",netns="web",stage="udp-rcvbuf"} 0.452`,
		`nettune_finding_severity{class="benign",device="",netns="web",stage="socket-lookup"} 0`,
		`nettune_findings{class="capacity",severity="critical",stage="udp-rcvbuf"} 1`,
		// Two locations of one reason are one series; advise's are rates of its interval.
		`nettune_drop_reason_packets_per_second{device="",reason="SOCKET_RCVBUFF"} 1190`,
		`nettune_bpf_attribution_ratio 0.96`,
		`nettune_bpf_map_errors_total 2`,
		// Partial in-path coverage is a series, never only a note.
		`nettune_bpf_links_asked 2`,
		`nettune_bpf_links_watched 1`,
		`nettune_bpf_coverage_gaps{hook="xdp",reason="foreign-program"} 1`,
		`nettune_loss 1`,
		"# TYPE nettune_bpf_map_errors_total counter",
		"# TYPE nettune_funnel_dropped_packets_total counter",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	for _, absent := range []string{
		"nettune_queue_", "queue=", // per-queue only with MetricOptions.PerQueue
		"interface=",                        // the label is device
		"nettune_drop_reason_packets_total", // one-shot: the probes' counts restart every run
		`stage="xdp"`,                       // in-path points, idem
	} {
		if strings.Contains(out, absent) {
			t.Errorf("advise's metrics contain %s", absent)
		}
	}
	opts := fullOptions()
	out = string(prom(t, lossResult(), &opts))
	for _, want := range []string{
		// serve: the probes' counts since they were attached count too.
		`nettune_queue_funnel_in_packets_total{device="veth1",dir="rx",netns="web",queue="0",stage="backlog"} 4e+06`,
		`nettune_drop_reason_packets_total{device="",reason="SOCKET_RCVBUFF"} 52000`,
		`nettune_queue_funnel_residual_packets_per_second{device="veth1",dir="rx",netns="web",queue="0",stage="xdp"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing with PerQueue and ProbeTotals: %s", want)
		}
	}
	if strings.Contains(out, "nettune_drop_reason_packets_per_second") {
		t.Error("serve exports drop reasons twice: the counter and the interval's rate")
	}
}

// TestCountersKeepCountingBetweenRuns: a textfile written by one 30 s run every 5 minutes
// sees every drop in its counters, also those between two runs; the interval's gauges do not.
func TestCountersKeepCountingBetweenRuns(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sample := func(at time.Duration, drops uint64) *model.Sample {
		return &model.Sample{Time: t0.Add(at), SNMP: map[string]uint64{"Udp.InDatagrams": 1e6, "Udp.RcvbufErrors": drops}}
	}
	run := func(from, to *model.Sample) (total, rate float64) {
		d, err := model.Diff(from, to)
		if err != nil {
			t.Fatal(err)
		}
		res := &pipeline.Result{Delta: d, Report: policy.Analyze(d, policy.DefaultConfig())}
		ms := Metrics(res, MetricOptions{})
		for _, m := range ms {
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatal(err)
			}
			desc := m.Desc().String()
			if !strings.Contains(desc, "stage") {
				continue
			}
			for _, l := range pb.Label {
				if l.GetName() == "stage" && l.GetValue() == "udp-rcvbuf" {
					switch {
					case strings.Contains(desc, `"nettune_funnel_dropped_packets_total"`):
						total = pb.Counter.GetValue()
					case strings.Contains(desc, `"nettune_finding_drop_packets_per_second"`):
						rate = pb.Gauge.GetValue()
					}
				}
			}
		}
		return total, rate
	}
	// No loss while either run measures; 2 700 datagrams lost in between.
	first, firstRate := run(sample(0, 1000), sample(30*time.Second, 1000))
	second, secondRate := run(sample(300*time.Second, 3700), sample(330*time.Second, 3700))
	if firstRate != 0 || secondRate != 0 {
		t.Fatalf("the runs' own intervals show %g and %g/s: the scenario is wrong", firstRate, secondRate)
	}
	if first != 1000 || second-first != 2700 {
		t.Errorf("counter %g then %g: want 1000 then 3700 (every drop between the runs counted)", first, second)
	}
}

// TestPrometheusDuplicateRejected: two funnel rows for the same series are a policy bug that
// the output must report, not hide by writing both.
func TestPrometheusDuplicateRejected(t *testing.T) {
	r := &policy.Report{Funnel: []policy.Funnel{{Dir: "rx", Stages: []policy.FunnelStage{
		{Stage: stage.UDPRcvbuf, Known: true, Residual: 1}, {Stage: stage.UDPRcvbuf, Known: true, Residual: 2}}}}}
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
