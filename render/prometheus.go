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
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// MetricOptions choose the optional series of the Prometheus output.
type MetricOptions struct {
	// PerQueue adds per-queue funnel series (nettune_queue_funnel_*): interfaces × queues ×
	// stages series, so it is opt-in.
	PerQueue bool
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

// Label sets shared by several families.
var (
	funnelLabels  = []string{"netns", "interface", "dir", "stage"}
	queueLabels   = []string{"netns", "interface", "dir", "queue", "stage"}
	findingLabels = []string{"netns", "interface", "stage", "class"}
)

// Metrics turns one report into Prometheus metrics. Every series is a gauge describing the
// last interval, except nettune_bpf_map_errors_total.
func Metrics(res *pipeline.Result, o MetricOptions) []prometheus.Metric {
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
		nil, boolf(r.Loss()))
	b.add("nettune_plan_actions", "Actions in the plan (nettune apply --dry-run shows them).", nil, float64(len(r.Plan)))
	b.add("nettune_missing_evidence", "Readers that failed this interval (the report's missing list).",
		nil, float64(len(r.Missing)))
	if d != nil {
		b.add("nettune_resets", "Counters that went backwards in the interval (driver reload, ring resize).",
			nil, float64(len(d.Resets)))
	}
	b.funnel(r.Funnel, o.PerQueue)
	b.findings(r.Findings)
	if d != nil && d.InPath != nil {
		b.reasons(d)
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

func (b *builder) funnel(fs []policy.Funnel, perQueue bool) {
	for _, f := range fs {
		prefix, labels := "nettune_funnel_", funnelLabels
		if f.Queue != nil {
			if !perQueue {
				continue
			}
			prefix, labels = "nettune_queue_funnel_", queueLabels
		}
		for _, s := range f.Stages {
			values := []string{f.Netns, f.Interface, f.Dir, string(s.Stage)}
			if f.Queue != nil {
				values = []string{f.Netns, f.Interface, f.Dir, strconv.Itoa(*f.Queue), string(s.Stage)}
			}
			b.add(prefix+"drop_packets_per_second", "Packets per second dropped at a stage, as counted by a kernel counter or drop reason.",
				labels, s.DropRate, values...)
			if !s.Known {
				continue // only the drops are measured at this stage
			}
			b.add(prefix+"in_packets_per_second", "Packets per second entering a stage.", labels, s.InRate, values...)
			b.add(prefix+"out_packets_per_second", "Packets per second leaving a stage.", labels, s.OutRate, values...)
			b.add(prefix+"residual_packets_per_second", "Packets per second lost at a stage that no counter or drop reason explains (in − out − dropped).",
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

// reasons sums kfree_skb drops per (interface, reason); locations and netns inodes are left
// out to bound the series, and only reasons seen in the interval appear.
func (b *builder) reasons(d *model.Delta) {
	type key struct{ iface, reason string }
	sums := map[key]uint64{}
	for _, x := range d.InPath.Drops {
		sums[key{x.Link, x.Reason}] += x.Count
	}
	for _, k := range sortedKeys(sums, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.iface, b.iface), cmp.Compare(a.reason, b.reason))
	}) {
		b.add("nettune_drop_reason_packets_per_second", "Packets per second freed by the kernel with a drop reason (skb:kfree_skb), by interface.",
			[]string{"interface", "reason"}, d.Rate(sums[k]), k.iface, k.reason)
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
