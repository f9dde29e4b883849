package render

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// DefaultMaxNamespaces is how many namespaces besides the host get series of their own in one
// interval when nothing is configured (serve.max_namespaces).
const DefaultMaxNamespaces = 50

// netnsLabels name a namespace other than the host's in the nettune_netns_* families.
var netnsLabels = []string{"netns", "pod", "namespace", "container"}

// PrometheusNode writes the metrics of one interval over every namespace in the text format,
// at most maxNamespaces of them besides the host with series of their own.
func PrometheusNode(w io.Writer, res *pipeline.NodeResult, maxNamespaces int) error {
	return WriteMetrics(w, NodeMetrics(res, MetricOptions{}, maxNamespaces))
}

// NodeMetrics turns one interval over every namespace into metrics. The host namespace (the
// one nettune runs in) has the series Metrics gives a single namespace, unchanged, except that
// nettune_loss covers the node (loss in any namespace, as advise's exit status). Another
// namespace gets nettune_netns_* series, labelled with its name (or inode) and owner, only in
// an interval where it lost packets or the probes saw drops in it; of those, the
// maxNamespaces that lost the most, and nettune_namespaces_cut counts the rest, so the number
// of series stays bounded on a node with thousands of pods.
func NodeMetrics(res *pipeline.NodeResult, o MetricOptions, maxNamespaces int) []prometheus.Metric {
	host := &pipeline.Result{Meta: res.Meta, Report: &policy.Report{}}
	var shown []netnsSeries
	lossy, dropping := 0, 0
	for i := range res.Namespaces {
		ns := &res.Namespaces[i]
		s := netnsSeries{ns: ns, loss: ns.Report.Loss(), drops: inPathDrops(ns)}
		lossy += boolInt(s.loss)
		dropping += boolInt(len(s.drops) > 0)
		if ns.Own {
			host = &pipeline.Result{Meta: res.Meta, Delta: ns.Delta, Report: ns.Report}
			continue
		}
		for _, f := range ns.Report.Findings {
			s.rate += f.DropRate
		}
		if s.loss || len(s.drops) > 0 {
			shown = append(shown, s)
		}
	}
	b := &builder{ms: metrics(host, o, lossy > 0)}
	// Loss first, then the most packets lost; the inode keeps the order stable.
	slices.SortFunc(shown, func(a, b netnsSeries) int {
		return cmp.Or(-cmp.Compare(boolf(a.loss), boolf(b.loss)), -cmp.Compare(a.rate+a.dropRate(), b.rate+b.dropRate()),
			cmp.Compare(a.ns.Namespace.ID.Ino, b.ns.Namespace.ID.Ino))
	})
	cut := max(len(shown)-max(maxNamespaces, 0), 0)
	shown = shown[:len(shown)-cut]

	for _, st := range []struct {
		state string
		n     int
	}{{"examined", len(res.Namespaces)}, {"lossy", lossy}, {"dropping", dropping},
		{"vanished", len(res.Vanished)}, {"appeared", len(res.Appeared)}} {
		b.add("nettune_namespaces", "Network namespaces of the node in the interval: examined (present at both ends), lossy, dropping (the probes saw drops in it), vanished (gone during it) and appeared (examined from the next interval).",
			[]string{"state"}, float64(st.n), st.state)
	}
	b.add("nettune_namespaces_cut", "Namespaces with loss or in-path drops in the interval left without nettune_netns_* series by serve.max_namespaces.",
		nil, float64(cut))
	for _, s := range shown {
		b.netns(s, o)
	}
	return b.ms
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// netnsSeries is a namespace that gets series of its own.
type netnsSeries struct {
	ns    *pipeline.NamespaceResult
	loss  bool
	rate  float64           // packets/s its findings lost
	drops []model.DropCount // the probes' drops in it in the interval
}

func (s netnsSeries) dropRate() float64 {
	var n uint64
	for _, d := range s.drops {
		n += d.Count
	}
	if s.ns.Delta == nil || s.ns.Delta.Interval <= 0 {
		return 0
	}
	return float64(n) / s.ns.Delta.Interval.Seconds()
}

// inPathDrops are the drop tracer's counts of the interval in the namespace: the tracer is
// host-wide, each drop keyed by the inode of the namespace it happened in.
func inPathDrops(ns *pipeline.NamespaceResult) []model.DropCount {
	if ns.Delta == nil || ns.Delta.InPath == nil {
		return nil
	}
	var out []model.DropCount
	for _, d := range ns.Delta.InPath.Drops {
		if d.Netns == ns.Namespace.ID.Ino && d.Count > 0 {
			out = append(out, d)
		}
	}
	return out
}

// netnsLabelValues: the `ip netns` name or the inode; the pod's name and Kubernetes namespace;
// the names of its containers (their short IDs where no source names them), comma-separated.
func netnsLabelValues(ns *pipeline.NamespaceResult) []string {
	name := strconv.FormatUint(ns.Namespace.ID.Ino, 10)
	if len(ns.Namespace.Names) > 0 {
		name = ns.Namespace.Names[0]
	}
	var containers []string
	for _, c := range ns.Owner.Containers {
		switch {
		case c.Sandbox:
		case c.Name != "":
			containers = append(containers, c.Name)
		case c.ID != "":
			containers = append(containers, c.ID[:min(len(c.ID), 12)])
		}
	}
	slices.Sort(containers)
	return []string{name, ns.Owner.Pod.Name, ns.Owner.Pod.Namespace, strings.Join(slices.Compact(containers), ",")}
}

// netns adds one namespace's series: whether it lost packets, its findings, the drops of its
// funnel since its counters started and the probes' drop reasons.
func (b *builder) netns(s netnsSeries, o MetricOptions) {
	ns := s.ns
	id := netnsLabelValues(ns)
	with := func(labels []string, values ...string) ([]string, []string) {
		return append(slices.Clip(netnsLabels), labels...), append(slices.Clip(id), values...)
	}
	b.add("nettune_netns_loss", "1 when the namespace had a capacity finding of warning or critical severity in the interval.",
		netnsLabels, boolf(s.loss), id...)

	sums := map[findingKey]*findingSum{}
	for _, f := range ns.Report.Findings {
		k := findingKey{iface: f.Interface, stage: string(f.Stage), class: string(f.Class)}
		fs := sums[k]
		if fs == nil {
			fs = &findingSum{}
			sums[k] = fs
		}
		fs.rate += f.DropRate
		fs.ratio = max(fs.ratio, f.Ratio)
		fs.severity = max(fs.severity, f.Severity)
	}
	for _, k := range sortedKeys(sums, func(a, b findingKey) int {
		return cmp.Or(cmp.Compare(a.iface, b.iface), cmp.Compare(a.stage, b.stage), cmp.Compare(a.class, b.class))
	}) {
		fs := sums[k]
		l, v := with([]string{"device", "stage", "class"}, k.iface, k.stage, k.class)
		b.add("nettune_netns_finding_drop_packets_per_second", "Packets per second lost in the namespace at a stage where nettune made a finding (queues and CPUs summed).", l, fs.rate, v...)
		b.add("nettune_netns_finding_drop_ratio", "Share of the stage's throughput the namespace lost (the worst queue or CPU).", l, fs.ratio, v...)
		b.add("nettune_netns_finding_severity", "Severity of the namespace's finding: 0 info, 1 warning, 2 critical.", l, float64(fs.severity), v...)
	}

	if ns.Delta != nil {
		res := &pipeline.Result{Delta: ns.Delta, Report: ns.Report}
		for _, f := range res.Totals(o.ProbeTotals) {
			if f.Queue != nil {
				continue
			}
			for _, st := range f.Stages {
				if st.Dropped == 0 {
					continue // a namespace's series are about its loss: stages that never dropped add nothing
				}
				l, v := with([]string{"device", "dir", "stage"}, f.Interface, f.Dir, string(st.Stage))
				b.counter("nettune_netns_funnel_dropped_packets_total", "Packets the namespace dropped at a stage since its counters started (the namespace's creation, for most).",
					l, float64(st.Dropped), v...)
			}
		}
	}

	sums2, keys := sumReasons(s.drops)
	for _, k := range keys {
		l, v := with([]string{"device", "reason"}, k.device, k.reason)
		b.add("nettune_netns_drop_reason_packets_per_second", "Packets per second freed with a drop reason (skb:kfree_skb) in the namespace in the last interval, by device.",
			l, ns.Delta.Rate(sums2[k]), v...)
	}
}
