package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

// openNode prepares serve over every namespace of the node. When the probes cannot be
// attached over the whole node it serves counters and says why, as a single namespace's run
// does when the probes fail. run only analyzes the host's samples for --remediate: it never
// samples, so it attaches nothing.
func (s *server) openNode(o pipeline.Options) error {
	n, err := pipeline.OpenNode(o)
	if err != nil && o.Probes {
		s.nodeNote = "counters only: " + err.Error()
		o.Probes = false
		n, err = pipeline.OpenNode(o)
	}
	if err != nil {
		return classify(err)
	}
	s.node = n
	o.Probes = false
	s.run = pipeline.Open(o)
	return nil
}

// meta is how serve measures, for the log line at start.
func (s *server) meta() pipeline.Meta {
	if s.node == nil {
		return s.run.Meta()
	}
	m := s.node.Meta()
	if s.nodeNote != "" {
		m.BPFNote = s.nodeNote
	}
	return m
}

func (s *server) baselineNode() error {
	cur, err := s.node.Sample()
	if err != nil {
		return classify(err)
	}
	s.prevNode = cur
	s.lastOK.Store(time.Now().UnixNano())
	return nil
}

// intervalNode is interval over every namespace: a namespace that vanished is left out of
// the interval and one that appeared is measured from the next one, both without an error.
func (s *server) intervalNode(ctx context.Context) {
	start := time.Now()
	cur, err := s.node.Sample()
	if err != nil {
		s.sampleErrors.Inc()
		s.warn("sample", err)
		return
	}
	s.warned.Delete("sample")
	s.lastOK.Store(time.Now().UnixNano())
	if err := s.stepNode(ctx, cur, time.Since(start)); err != nil {
		s.warn("analyze", err)
	}
}

// stepNode is step over every namespace.
func (s *server) stepNode(ctx context.Context, cur *collect.NodeSample, collectTime time.Duration) error {
	start := time.Now()
	res, err := s.node.Analyze(ctx, s.prevNode, cur)
	if err != nil {
		return err
	}
	s.prevNode = cur
	analyzed := time.Since(start)
	// Said again only when their number changes: which namespace is first varies.
	if n := len(res.Errors); n != s.nodeErrors {
		if n > 0 {
			fmt.Fprintf(s.log, "nettune serve: %d namespaces could not be read, the first: %s\n", n, res.Errors[0])
		}
		s.nodeErrors = n
	}

	var host *pipeline.Result
	for _, ns := range res.Namespaces {
		if ns.Own {
			host = &pipeline.Result{Meta: res.Meta, Delta: ns.Delta, Report: ns.Report}
		}
	}
	// Remediation acts in nettune's own namespace, as it did before serve examined the node.
	if s.f.remediate && host != nil {
		s.remediate(host.Delta.Cur)
	}
	o := render.MetricOptions{PerQueue: s.f.perQueue, ProbeTotals: true, Applied: s.applied(),
		Overhead: &render.Overhead{CollectSeconds: collectTime.Seconds(), AnalyzeSeconds: analyzed.Seconds()}}
	maxNS := s.cfg.Serve.MaxNamespaces
	s.report.set(func() []prometheus.Metric { return render.NodeMetrics(res, o, maxNS) })
	if host != nil {
		s.page.Store(host)
	}
	return nil
}
