package render

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// MetricOptions choose the optional series of the Prometheus output.
type MetricOptions struct {
	// PerQueue adds per-queue funnel series (nettune_queue_funnel_*): interfaces × queues ×
	// stages series, so it is opt-in.
	PerQueue bool
	// ProbeTotals is set by a process whose probes stay attached from one interval to the next
	// (serve): the in-path counts since they were attached then count in the funnel counters,
	// and drop reasons are a counter (nettune_drop_reason_packets_total). Without it (advise)
	// the counters are the kernel's alone and drop reasons a gauge of the interval
	// (pipeline.Result.Totals).
	ProbeTotals bool
	// Overhead is nettune's own cost for this interval; nil when it was not measured.
	Overhead *Overhead
	// Applied are the knobs nettune has changed and not rolled back.
	Applied []AppliedChange
}

// Overhead is the wall time nettune spent on one interval.
type Overhead struct {
	CollectSeconds float64 // reading counters and probe maps (the later sample)
	AnalyzeSeconds float64 // diff, policy and building the metrics
}

// AppliedChange is one knob nettune changed and not rolled back.
type AppliedChange struct {
	Knob  string // knob ID, e.g. sysctl:net.core.rmem_default
	Netns string
	Time  float64 // Unix seconds of the change
}

// Prometheus writes the metrics of one report in the text format node_exporter's textfile
// collector reads (docs/operations.md lists every series).
func Prometheus(w io.Writer, res *pipeline.Result) error {
	return WriteMetrics(w, Metrics(res, MetricOptions{}))
}

// WriteMetrics writes metrics in the Prometheus text format, sorted by name and labels. It
// gathers them through a registry first, which rejects duplicate or inconsistent series.
func WriteMetrics(w io.Writer, ms []prometheus.Metric) error {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(Static(ms)); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// Static is a collector that yields a fixed set of metrics. It describes nothing up front
// (an unchecked collector): the series change with every report.
type Static []prometheus.Metric

// Describe sends no descriptors, which makes the collector unchecked.
func (Static) Describe(chan<- *prometheus.Desc) {}

// Collect sends the metrics.
func (s Static) Collect(ch chan<- prometheus.Metric) {
	for _, m := range s {
		ch <- m
	}
}

// Label sets shared by several families. The interface is "device", as node_exporter names it.
var (
	funnelLabels  = []string{"netns", "device", "dir", "stage"}
	queueLabels   = []string{"netns", "device", "dir", "queue", "stage"}
	findingLabels = []string{"netns", "device", "stage", "class"}
	reasonLabels  = []string{"device", "reason"}
)

// Metrics turns one report into Prometheus metrics: counters (_total) of the packets each
// funnel stage saw and dropped since its counters started, so that rate() covers every second,
// also between two one-shot runs; gauges for the verdict of the last interval (findings, the
// residual no counter explains). docs/operations.md lists every series.
func Metrics(res *pipeline.Result, o MetricOptions) []prometheus.Metric {
	return metrics(res, o, res.Report.Loss())
}

// metrics is Metrics with nettune_loss given: a node's covers every namespace.
func metrics(res *pipeline.Result, o MetricOptions, loss bool) []prometheus.Metric {
	m, r, d := res.Meta, res.Report, res.Delta
	b := &builder{}
	b.add("nettune_info", "How the report was made: kernel release, counters or counters+bpf, XDP mode.",
		[]string{"kernel", "mode", "xdp_mode"}, 1, m.Kernel, m.Mode, m.XDPMode)
	b.add("nettune_interval_seconds", "Length of the measured interval.", nil, r.IntervalSeconds)
	if d != nil && d.Cur != nil && !d.Cur.Time.IsZero() {
		b.add("nettune_last_sample_timestamp_seconds", "Unix time of the sample that ended the interval.",
			nil, float64(d.Cur.Time.UnixNano())/1e9)
	}
	b.add("nettune_loss", "1 when a capacity finding of warning or critical severity was made (advise exits 1).",
		nil, boolf(loss))
	b.add("nettune_plan_actions", "Actions in the plan (nettune apply --dry-run shows them).", nil, float64(len(r.Plan)))
	b.add("nettune_missing_evidence", "Readers that failed this interval (the report's missing list).",
		nil, float64(len(r.Missing)))
	if d != nil {
		b.add("nettune_resets", "Counters that went backwards in the interval (driver reload, ring resize).",
			nil, float64(len(d.Resets)))
	}
	b.funnelTotals(res.Totals(o.ProbeTotals), o.PerQueue)
	b.residuals(r.Funnel, o.PerQueue)
	b.findings(r.Findings)
	if o.ProbeTotals && d != nil && d.Cur != nil && d.Cur.InPath != nil {
		b.reasonTotals(d.Cur.InPath)
	} else if d != nil && d.InPath != nil {
		b.reasonRates(d)
	}
	if d != nil && d.Cur != nil && d.Cur.InPath != nil {
		b.counter("nettune_bpf_map_errors_total", "Failed map updates in nettune's eBPF programs since they were attached; non-zero means attribution is incomplete.",
			nil, float64(d.Cur.InPath.MapErrors))
	}
	if c := m.Coverage; c != nil {
		b.coverage(c)
	}
	if r.Attribution != nil {
		b.add("nettune_bpf_attribution_ratio", "Drops the eBPF drop tracer attributed ÷ drops the kernel counters counted.",
			nil, *r.Attribution)
	}
	if o.Overhead != nil {
		b.add("nettune_collect_duration_seconds", "Wall time spent reading counters and probe maps for the last sample.",
			nil, o.Overhead.CollectSeconds)
		b.add("nettune_analyze_duration_seconds", "Wall time spent on the diff, the policy and the metrics of the last interval.",
			nil, o.Overhead.AnalyzeSeconds)
	}
	for _, a := range o.Applied {
		b.add("nettune_applied_change_timestamp_seconds", "Unix time at which nettune changed a knob that is not rolled back yet.",
			[]string{"netns", "knob"}, a.Time, a.Netns, a.Knob)
	}
	return b.ms
}

// builder creates each descriptor once and collects metrics.
type builder struct {
	descs map[string]*prometheus.Desc
	ms    []prometheus.Metric
}

func (b *builder) desc(name, help string, labels []string) *prometheus.Desc {
	if d, ok := b.descs[name]; ok {
		return d
	}
	if b.descs == nil {
		b.descs = map[string]*prometheus.Desc{}
	}
	d := prometheus.NewDesc(name, help, labels, nil)
	b.descs[name] = d
	return d
}

func (b *builder) add(name, help string, labels []string, v float64, values ...string) {
	b.ms = append(b.ms, prometheus.MustNewConstMetric(b.desc(name, help, labels), prometheus.GaugeValue, v, values...))
}

func (b *builder) counter(name, help string, labels []string, v float64, values ...string) {
	b.ms = append(b.ms, prometheus.MustNewConstMetric(b.desc(name, help, labels), prometheus.CounterValue, v, values...))
}

// funnelLabelValues are a funnel's labels and the names of its families: per interface (and
// the socket layer) or, with a queue, per RX queue.
func funnelLabelValues(netns, device, dir string, queue *int, st stage.Stage) (prefix string, labels, values []string) {
	if queue != nil {
		return "nettune_queue_funnel_", queueLabels, []string{netns, device, dir, strconv.Itoa(*queue), string(st)}
	}
	return "nettune_funnel_", funnelLabels, []string{netns, device, dir, string(st)}
}

// funnelTotals: the packets each stage dropped, and saw enter and leave where measured, since
// the counters started.
func (b *builder) funnelTotals(fs []pipeline.FunnelTotal, perQueue bool) {
	for _, f := range fs {
		if f.Queue != nil && !perQueue {
			continue
		}
		for _, s := range f.Stages {
			prefix, labels, values := funnelLabelValues(f.Netns, f.Interface, f.Dir, f.Queue, s.Stage)
			b.counter(prefix+"dropped_packets_total", "Packets dropped at a stage since its counters started, as counted by a kernel counter (or, serve, a drop reason since the probes were attached).",
				labels, float64(s.Dropped), values...)
			if s.InKnown {
				b.counter(prefix+"in_packets_total", "Packets that entered a stage since its counters started, where measured.",
					labels, float64(s.In), values...)
			}
			if s.OutKnown {
				b.counter(prefix+"out_packets_total", "Packets that left a stage since its counters started, where measured.",
					labels, float64(s.Out), values...)
			}
		}
	}
}

// residuals: the loss of the last interval that no counter explains. It stays a gauge: it is
// a balance over one interval (in − out − dropped, possibly negative), and in a one-shot run
// its in/out may come from probes attached for that interval only.
func (b *builder) residuals(fs []policy.Funnel, perQueue bool) {
	for _, f := range fs {
		if f.Queue != nil && !perQueue {
			continue
		}
		for _, s := range f.Stages {
			if !s.Known {
				continue
			}
			prefix, labels, values := funnelLabelValues(f.Netns, f.Interface, f.Dir, f.Queue, s.Stage)
			b.add(prefix+"residual_packets_per_second", "Packets per second lost at a stage in the last interval that no counter or drop reason explains (in − out − dropped).",
				labels, s.Residual, values...)
		}
	}
}

// findingKey is one finding series: per-queue and per-CPU findings of the same stage and
// interface are summed into it, so the label set stays bounded by interfaces × stages.
type findingKey struct{ netns, iface, stage, class string }

type findingSum struct {
	rate, ratio float64
	severity    policy.Severity
}

func (b *builder) findings(fs []policy.Finding) {
	sums := map[findingKey]*findingSum{}
	type countKey struct{ stage, class, severity string }
	counts := map[countKey]int{}
	for _, f := range fs {
		k := findingKey{f.Netns, f.Interface, string(f.Stage), string(f.Class)}
		s := sums[k]
		if s == nil {
			s = &findingSum{}
			sums[k] = s
		}
		s.rate += f.DropRate
		s.ratio = max(s.ratio, f.Ratio)
		s.severity = max(s.severity, f.Severity)
		counts[countKey{string(f.Stage), string(f.Class), f.Severity.String()}]++
	}
	for _, k := range sortedKeys(sums, func(a, b findingKey) int {
		return cmp.Or(cmp.Compare(a.netns, b.netns), cmp.Compare(a.iface, b.iface), cmp.Compare(a.stage, b.stage), cmp.Compare(a.class, b.class))
	}) {
		s := sums[k]
		b.add("nettune_finding_drop_packets_per_second", "Packets per second lost at a stage where nettune made a finding (queues and CPUs summed).",
			findingLabels, s.rate, k.netns, k.iface, k.stage, k.class)
		b.add("nettune_finding_drop_ratio", "Share of the stage's throughput that was lost (the worst queue or CPU).",
			findingLabels, s.ratio, k.netns, k.iface, k.stage, k.class)
		b.add("nettune_finding_severity", "Severity of the finding: 0 info, 1 warning, 2 critical (the worst queue or CPU).",
			findingLabels, float64(s.severity), k.netns, k.iface, k.stage, k.class)
	}
	for _, k := range sortedKeys(counts, func(a, b countKey) int {
		return cmp.Or(cmp.Compare(a.stage, b.stage), cmp.Compare(a.class, b.class), cmp.Compare(a.severity, b.severity))
	}) {
		b.add("nettune_findings", "Findings made in the interval by stage, class and severity.",
			[]string{"stage", "class", "severity"}, float64(counts[k]), k.stage, k.class, k.severity)
	}
}

// coverage says on how many links the in-path probes count, and counts what they could not
// watch by hook and reason (a bounded label set: docs/operations.md).
func (b *builder) coverage(c *model.Coverage) {
	b.add("nettune_bpf_links_asked", "Links the in-path eBPF probes were asked to count on.", nil, float64(c.Asked))
	b.add("nettune_bpf_links_watched", "Links on which every requested in-path hook counts; fewer than asked means partial coverage.",
		nil, float64(c.Watched))
	type key struct{ hook, reason string }
	gaps := map[key]int{}
	for _, g := range c.Gaps {
		gaps[key{g.Hook, string(g.Reason)}]++
	}
	for _, k := range sortedKeys(gaps, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.hook, b.hook), cmp.Compare(a.reason, b.reason))
	}) {
		b.add("nettune_bpf_coverage_gaps", "Hooks (or whole links and namespaces, hook \"\") the in-path probes could not watch, by reason.",
			[]string{"hook", "reason"}, float64(gaps[k]), k.hook, k.reason)
	}
}

// reasonKey is one drop-reason series: locations and netns inodes are left out to bound the
// series.
type reasonKey struct{ device, reason string }

func sumReasons(drops []model.DropCount) (map[reasonKey]uint64, []reasonKey) {
	sums := map[reasonKey]uint64{}
	for _, x := range drops {
		sums[reasonKey{x.Link, x.Reason}] += x.Count
	}
	return sums, sortedKeys(sums, func(a, b reasonKey) int {
		return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.reason, b.reason))
	})
}

// reasonTotals: kfree_skb drops per (device, reason) since the probes were attached (serve).
func (b *builder) reasonTotals(ip *model.InPath) {
	sums, keys := sumReasons(ip.Drops)
	for _, k := range keys {
		b.counter("nettune_drop_reason_packets_total", "Packets freed by the kernel with a drop reason (skb:kfree_skb) since nettune's probes were attached, by device.",
			reasonLabels, float64(sums[k]), k.device, k.reason)
	}
}

// reasonRates: kfree_skb drops per second of the interval (advise: its probes are attached
// for that interval only, so no total of them keeps counting between runs).
func (b *builder) reasonRates(d *model.Delta) {
	sums, keys := sumReasons(d.InPath.Drops)
	for _, k := range keys {
		b.add("nettune_drop_reason_packets_per_second", "Packets per second freed by the kernel with a drop reason (skb:kfree_skb) in the last interval, by device.",
			reasonLabels, d.Rate(sums[k]), k.device, k.reason)
	}
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
