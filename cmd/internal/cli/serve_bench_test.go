package cli

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/pipeline"
)

// BenchmarkServeInterval100 is one serve interval on a namespace with 100 veth interfaces
// (50 pairs, both ends up): sample, analyze, and a scrape rendering the metrics — the worst
// case, where every interval is scraped. At --interval 1s, cpu-ns/op ÷ 10⁷ is the percent of
// a core (budget: 1 %). counters attaches no probes; probes attaches the default set.
func BenchmarkServeInterval100(b *testing.B) {
	noChecks(b)
	lab.RequireRoot(b)
	ns := lab.NewNS(b, "serveB")
	lab.ManyVeths(b, ns, 50, true)
	for _, mode := range []string{"counters", "probes"} {
		b.Run(mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Netns, cfg.Interval = ns.Name, time.Second
			cfg.Apply.StateDir = b.TempDir()
			cfg.BPF.Enabled = mode == "probes"
			s, err := newServer(cfg, serveFlags{}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			if m := s.run.Meta(); cfg.BPF.Enabled && m.Mode != pipeline.ModeBPF {
				b.Skipf("probes did not attach: %s", m.BPFNote)
			}
			intervals(b, s)
		})
	}
}

// BenchmarkServeNodeInterval500 is one serve interval over the whole node with 500 other
// namespaces, each a veth pair and a bound UDP socket: sample every namespace, analyze each
// interval with its owner, and a scrape rendering the metrics; with the probes on every
// veth end (1 000 links), as serve runs by default, and with counters only. It runs in
// namespaces of its own (lab.Isolated), so the probes attach to the benchmark's links only.
// The target is 50 ms CPU (cpu-ns/op).
func BenchmarkServeNodeInterval500(b *testing.B) {
	if !lab.Isolated(b, "-test.run", "^$", "-test.bench", "^"+b.Name()+"$",
		"-test.benchtime", flag.Lookup("test.benchtime").Value.String()) {
		return
	}
	noChecks(b)
	lab.ManyNamespaces(b, "sb", 500)
	for _, mode := range []string{"probes", "counters"} {
		b.Run(mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Interval = time.Second
			cfg.Apply.StateDir = b.TempDir()
			cfg.BPF.Enabled = mode == "probes"
			s, err := newServer(cfg, serveFlags{}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			intervals(b, s)
			if len(s.prevNode.Namespaces) < 501 {
				b.Fatalf("%d namespaces sampled", len(s.prevNode.Namespaces))
			}
			if ip := s.prevNode.InPath; (mode == "probes") != (ip != nil && ip.Coverage != nil && ip.Coverage.Watched >= 1000) {
				b.Fatalf("%s: in-path view %+v", mode, ip)
			}
		})
	}
}

// intervals runs serve's baseline, then one interval and one scrape per benchmark iteration,
// reporting the CPU time of each (cpu-ns/op).
func intervals(b *testing.B, s *server) {
	if err := s.baseline(); err != nil {
		b.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 1<<14)
	cpu := cpuNanos()
	for b.Loop() {
		s.interval(b.Context())
		s.report.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
	b.ReportMetric(float64(cpuNanos()-cpu)/float64(b.N), "cpu-ns/op")
}
