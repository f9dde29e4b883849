package cli

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

// DefaultListen is serve's address: loopback, so exposing the metrics beyond the host is a
// decision the operator makes with --listen.
const DefaultListen = "127.0.0.1:9617"

type serveFlags struct {
	listen    string
	noBPF     bool
	perQueue  bool
	remediate bool
}

func newServe(c *common) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Sample every interval and serve the findings as Prometheus metrics",
		Long: `serve keeps the probes attached, samples once per interval, analyzes each interval like
advise, and serves the last report's metrics on /metrics, the same report as advise -o html
on / (and /healthz). Without --netns it examines every network namespace of the node: the
host's series as for one namespace, and series labelled with the pod and containers of each
namespace that lost packets (at most serve.max_namespaces of them). With --remediate it
also runs the periodic remediation of apply --auto after every interval (in nettune's own
namespace, or the one --netns names).
SIGTERM or SIGINT detaches the probes and stops the server.`,
		Example: `  nettune serve
  nettune serve --listen 0.0.0.0:9617 --interval 15s
  nettune serve --netns host --iface eth0
  nettune serve --remediate --interval 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if f.noBPF {
				cfg.BPF.Enabled = false
			}
			if f.remediate && os.Geteuid() != 0 {
				return usagef("serve --remediate changes kernel settings and needs root (without --remediate it only serves metrics)")
			}
			return serve(cmd.Context(), cfg, f, c.s.Err)
		},
	}
	addMeasureFlags(cmd)
	cmd.Flags().StringVar(&f.listen, "listen", DefaultListen, "address for /metrics, / (the HTML report) and /healthz")
	cmd.Flags().BoolVar(&f.noBPF, "no-bpf", false, "counters only: attach no eBPF probes")
	cmd.Flags().BoolVar(&f.perQueue, "per-queue", false, "also export per-queue funnel series (interfaces × queues × stages)")
	cmd.Flags().BoolVar(&f.remediate, "remediate", false, "after every interval run the remediation of apply --auto")
	return cmd
}

func serve(ctx context.Context, cfg Config, f serveFlags, logw io.Writer) error {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return usagef("listen: %w", err)
	}
	defer ln.Close()

	s, err := newServer(cfg, f, logw)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.baseline(); err != nil {
		return err
	}

	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(logw, "nettune serve: http: ", 0)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	meta := s.meta()
	what := "netns " + cfg.Netns
	if s.node != nil {
		what = "every namespace"
	}
	fmt.Fprintf(logw, "nettune serve: %s on http://%s/metrics, every %s, %s\n", meta.Mode, ln.Addr(), cfg.Interval, what)
	if meta.BPFNote != "" {
		fmt.Fprintf(logw, "nettune serve: %s\n", meta.BPFNote)
	}

	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-t.C:
			s.interval(ctx)
		}
	}
}

// server holds what lives across intervals: the probes, the previous sample and the metrics
// of the last report.
type server struct {
	// run measures the one namespace --netns names. Over the whole node (no --netns) node
	// measures and run only analyzes the host's samples for --remediate.
	run     *pipeline.Run
	node    *pipeline.Node
	cfg     Config
	f       serveFlags
	log     io.Writer
	applier *apply.Applier
	prev    *model.Sample
	// prevNode is the whole node's previous sample; nodeNote says why it has no probes.
	prevNode   *collect.NodeSample
	nodeNote   string
	nodeErrors int // namespaces the last interval could not read

	report lastReport
	page   atomic.Pointer[pipeline.Result] // the last interval, for the HTML report at /
	reg    *prometheus.Registry
	lastOK atomic.Int64 // Unix nanoseconds of the last successful sample

	sampleErrors prometheus.Counter
	autoActions  *prometheus.CounterVec
	warned       sync.Map // source → last message, so a persisting failure is logged once
}

// serveSettingsEvery: serve re-reads sysctls, RPS masks and whether irqbalance runs at most
// this often (counters every interval): at a 1 s interval settings were half the cost.
const serveSettingsEvery = 30 * time.Second

func newServer(cfg Config, f serveFlags, logw io.Writer) (*server, error) {
	o := pipelineOptions(cfg)
	o.SettingsEvery = serveSettingsEvery
	s := &server{cfg: cfg, f: f, log: logw, applier: newApplier(cfg)}
	if wholeNode(cfg) {
		if err := s.openNode(o); err != nil {
			return nil, err
		}
	} else {
		s.run = pipeline.Open(o)
	}

	s.sampleErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "nettune_sample_errors_total",
		Help: "Intervals whose sample could not be taken; the metrics keep the last good report."})
	s.autoActions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nettune_remediation_actions_total",
		Help: "Actions of serve --remediate by kind: change, revert, kept, wait, advice, unchanged, skip, failed."},
		[]string{"kind"})
	s.reg = prometheus.NewRegistry()
	// The standard process_* and go_* series, as every Go exporter has them.
	s.reg.MustRegister(&s.report, s.sampleErrors,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	if f.remediate {
		s.reg.MustRegister(s.autoActions)
	}
	return s, nil
}

// baseline takes the first sample. Its errors are the user's (unknown netns or interface)
// and end serve with exit 2; later sampling errors are logged and counted.
func (s *server) baseline() error {
	if s.node != nil {
		return s.baselineNode()
	}
	cur, err := s.sample()
	if err != nil {
		return err
	}
	s.prev = cur
	s.lastOK.Store(time.Now().UnixNano())
	return nil
}

// sample takes one sample; errors caused by the user's input become usage errors.
func (s *server) sample() (*model.Sample, error) {
	cur, err := s.run.Sample()
	if err != nil {
		return nil, classify(err)
	}
	return cur, nil
}

// close detaches the probes and releases the collectors.
func (s *server) close() {
	if s.node != nil {
		s.node.Close()
	}
	s.run.Close()
}

// interval samples and, if that worked, turns the interval into the served metrics.
func (s *server) interval(ctx context.Context) {
	if s.node != nil {
		s.intervalNode(ctx)
		return
	}
	start := time.Now()
	cur, err := s.sample()
	if err != nil {
		s.sampleErrors.Inc()
		s.warn("sample", err)
		return
	}
	s.warned.Delete("sample")
	s.lastOK.Store(time.Now().UnixNano())
	if err := s.step(cur, time.Since(start)); err != nil {
		s.warn("analyze", err)
	}
}

// step analyzes the interval that cur ends, remediates when asked, and publishes the
// metrics. It is serve's per-interval work after sampling (BenchmarkServeStep).
func (s *server) step(cur *model.Sample, collectTime time.Duration) error {
	start := time.Now()
	res, err := s.run.Analyze(s.prev, cur)
	if err != nil {
		return err
	}
	s.prev = cur
	analyzed := time.Since(start)

	if s.f.remediate {
		s.remediate(cur)
	}
	// The probes stay attached across intervals: their counts since then are totals.
	o := render.MetricOptions{PerQueue: s.f.perQueue, ProbeTotals: true, Applied: s.applied(),
		Overhead: &render.Overhead{CollectSeconds: collectTime.Seconds(), AnalyzeSeconds: analyzed.Seconds()}}
	s.report.set(func() []prometheus.Metric { return render.Metrics(res, o) })
	s.page.Store(res)
	return nil
}

// remediate runs apply --auto's periodic remediation on the interval's sample.
func (s *server) remediate(cur *model.Sample) {
	res, err := s.applier.Auto(cur, s.run.Findings)
	if res != nil {
		for _, a := range res.Actions {
			s.autoActions.WithLabelValues(a.Kind).Inc()
		}
		if len(res.Actions) > 0 {
			_ = render.Auto(s.log, render.FormatTable, res) // the log is where a failure would go
		}
	}
	if err != nil {
		s.warn("remediate", err)
	}
}

// applied lists the knobs nettune changed and has not undone, from the journal: changes made
// by apply, apply --auto or serve --remediate alike.
func (s *server) applied() []render.AppliedChange {
	st, err := s.applier.Status()
	if err != nil {
		s.warn("status", err)
		return nil
	}
	s.warned.Delete("status")
	out := make([]render.AppliedChange, 0, len(st.Knobs))
	for _, k := range st.Knobs {
		out = append(out, render.AppliedChange{Knob: k.Knob, Netns: k.Netns, Time: float64(k.Time.UnixNano()) / 1e9})
	}
	return out
}

// warn logs err unless the same source already logged the same message.
func (s *server) warn(source string, err error) {
	msg := err.Error()
	if prev, ok := s.warned.Swap(source, msg); ok && prev == msg {
		return
	}
	fmt.Fprintf(s.log, "nettune serve: %s: %v\n", source, err)
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog: log.New(s.log, "nettune serve: metrics: ", 0), ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /{$}", s.htmlReport)
	return mux
}

// healthz fails when no sample succeeded for three intervals (netns gone, netlink failing).
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	age := time.Since(time.Unix(0, s.lastOK.Load()))
	if age > 3*s.cfg.Interval {
		http.Error(w, fmt.Sprintf("no successful sample for %s", age.Truncate(time.Second)), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// lastReport is the collector that serves the metrics of the last analyzed interval,
// rendered when first scraped: at a 1 s interval and a 15 s scrape most reports are never
// asked for, and building their metrics was a tenth of serve's CPU time.
type lastReport struct {
	p atomic.Pointer[pendingMetrics]
}

type pendingMetrics struct {
	once   sync.Once
	render func() []prometheus.Metric
	ms     render.Static
}

func (l *lastReport) set(render func() []prometheus.Metric) {
	l.p.Store(&pendingMetrics{render: render})
}

// Describe sends nothing: the series change with each report (an unchecked collector).
func (l *lastReport) Describe(chan<- *prometheus.Desc) {}

// Collect sends the last report's metrics; none before the first interval ends.
func (l *lastReport) Collect(ch chan<- prometheus.Metric) {
	if p := l.p.Load(); p != nil {
		p.once.Do(func() { p.ms = p.render() })
		p.ms.Collect(ch)
	}
}
