package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

type adviseFlags struct {
	noBPF    bool
	textfile string
}

func newAdvise(c *common) *cobra.Command {
	var f adviseFlags
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Measure one interval and say where packets are lost and what to change",
		Example: `  nettune advise
  nettune advise --interval 30s --iface eth0 -o json
  nettune advise --netns web-7f9c`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if f.noBPF {
				cfg.BPF.Enabled = false
			}
			m, err := measure(cmd.Context(), cfg, c.s.Err)
			if err != nil {
				return err
			}
			if err := write(c.s.Out, cfg.Output, m); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if f.textfile != "" {
				err := render.WriteFileAtomic(f.textfile, func(w io.Writer) error { return render.Prometheus(w, m.meta, m.report, m.delta) })
				if err != nil {
					return fmt.Errorf("textfile: %w", err)
				}
			}
			if m.report.Loss() {
				return errLoss
			}
			return nil
		},
	}
	addMeasureFlags(cmd)
	cmd.Flags().BoolVar(&f.noBPF, "no-bpf", false, "counters only: attach no eBPF probes")
	cmd.Flags().StringP("output", "o", "table", "output format: table, json or prometheus")
	cmd.Flags().StringVar(&f.textfile, "textfile", "", "also write the Prometheus text format to this file, atomically (node_exporter textfile collector)")
	return cmd
}

// addMeasureFlags adds the flags that choose what is measured (config keys, see flagKeys).
func addMeasureFlags(cmd *cobra.Command) {
	cmd.Flags().Duration("interval", 10*time.Second, "measurement interval")
	cmd.Flags().StringSlice("iface", nil, "interfaces to examine (default: all)")
	cmd.Flags().String("netns", "", "network namespace: a name under /run/netns or a path such as /proc/PID/ns/net")
	cmd.Flags().String("xdp", "auto", "XDP counting mode: off, generic, native or auto")
}

// measurement is one advise interval's outcome.
type measurement struct {
	report *policy.Report
	delta  *model.Delta
	meta   render.Meta
}

// session is what advise, apply and serve share: the collector, the probes when enabled,
// and the report metadata that describes them.
type session struct {
	cfg    Config
	meta   render.Meta
	probes *probeSet
	col    *collect.Collector
}

// settingsEvery is passed to the collector (collect.Options.SettingsEvery): 0 for commands
// that sample once or twice, longer for serve.
func newSession(cfg Config, settingsEvery time.Duration) *session {
	s := &session{cfg: cfg, meta: render.Meta{Netns: cfg.Netns, Mode: "counters", Kernel: kernelRelease()}}
	s.meta.Host, _ = os.Hostname()
	opts := collect.Options{ProcRoot: cfg.ProcRoot, SysRoot: cfg.SysRoot, Netns: cfg.Netns, Links: cfg.Interfaces,
		SettingsEvery: settingsEvery}
	if cfg.BPF.Enabled {
		var note string
		s.probes, note = attachProbes(cfg)
		s.meta.BPFNote = note
		if s.probes != nil {
			s.meta.Mode = "counters+bpf"
			opts.InPath = s.probes
		}
	}
	s.col = collect.New(opts)
	return s
}

// close releases the collector's namespace thread and detaches every probe.
func (s *session) close() {
	s.col.Close()
	if s.probes != nil {
		s.probes.Close()
	}
}

// sample takes one sample; errors caused by the user's input become usage errors.
func (s *session) sample() (*model.Sample, error) {
	cur, err := s.col.Sample()
	if err != nil {
		return nil, classify(err)
	}
	return cur, nil
}

// analyze turns the interval between two samples into a report and its metadata.
func (s *session) analyze(prev, cur *model.Sample) (*measurement, error) {
	d, err := model.Diff(prev, cur)
	if err != nil {
		return nil, fmt.Errorf("diff samples: %w", err)
	}
	r := policy.Analyze(d, s.cfg.Policy)
	r.Missing = append(r.Missing, cur.Errors...)
	meta := s.meta
	meta.Attribution = r.Attribution
	if cur.InPath != nil {
		meta.XDPMode = cur.InPath.XDPMode
		if cur.InPath.Note != "" {
			meta.BPFNote = joinNote(meta.BPFNote, cur.InPath.Note)
		}
		meta.Foreign = cur.InPath.Foreign
		meta.Coverage = cur.InPath.Coverage
	}
	return &measurement{report: r, delta: d, meta: meta}, nil
}

// measure samples twice, one interval apart, and analyzes the difference.
func measure(ctx context.Context, cfg Config, progress io.Writer) (*measurement, error) {
	s := newSession(cfg, 0)
	defer s.close()
	first, err := s.sample()
	if err != nil {
		return nil, err
	}
	if err := wait(ctx, cfg.Interval, progress); err != nil {
		return nil, err
	}
	second, err := s.sample()
	if err != nil {
		return nil, err
	}
	return s.analyze(first, second)
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// classify turns reader errors caused by the user's input into usage errors (exit 2).
func classify(err error) error {
	switch {
	case errors.Is(err, netdev.ErrNoLink), errors.Is(err, netns.ErrNotFound):
		return asUsage(err)
	case errors.Is(err, os.ErrPermission):
		return usagef("%w (run as root, or drop --netns)", err)
	}
	return err
}

// wait sleeps for the interval, drawing progress on a terminal, and stops early on ctx.
func wait(ctx context.Context, d time.Duration, progress io.Writer) error {
	t := time.NewTimer(d)
	defer t.Stop()
	if !isTerminal(progress) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	defer fmt.Fprint(progress, "\r\033[K")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case now := <-tick.C:
			el := now.Sub(start).Truncate(time.Second)
			fmt.Fprintf(progress, "\rsampling counters: %s of %s", el, d)
		}
	}
}

func write(w io.Writer, format string, m *measurement) error {
	switch format {
	case "json":
		return render.JSON(w, m.meta, m.report)
	case "prometheus":
		return render.Prometheus(w, m.meta, m.report, m.delta)
	}
	return render.Table(w, m.meta, m.report)
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return string(trimNL(b))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
