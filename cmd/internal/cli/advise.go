package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/cmd/internal/render"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/tuner/collect"
	"github.com/nettune/nettune/tuner/netdev"
	"github.com/nettune/nettune/tuner/netns"
	"github.com/nettune/nettune/tuner/sample"
)

type adviseFlags struct {
	noBPF bool
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
			if m.report.Loss() {
				return errLoss
			}
			return nil
		},
	}
	addMeasureFlags(cmd)
	cmd.Flags().BoolVar(&f.noBPF, "no-bpf", false, "counters only: attach no eBPF probes")
	cmd.Flags().StringP("output", "o", "table", "output format: table, json or prometheus")
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
	delta  *sample.Delta
	meta   render.Meta
}

// measure samples twice, one interval apart, and analyzes the difference.
func measure(ctx context.Context, cfg Config, progress io.Writer) (*measurement, error) {
	meta := render.Meta{Netns: cfg.Netns, Mode: "counters"}
	meta.Host, _ = os.Hostname()
	meta.Kernel = kernelRelease()

	var probes *probeSet
	if cfg.BPF.Enabled {
		var note string
		probes, note = attachProbes(cfg)
		meta.BPFNote = note
		if probes != nil {
			defer probes.Close()
			meta.Mode = "counters+bpf"
		}
	}
	opts := collect.Options{ProcRoot: cfg.ProcRoot, SysRoot: cfg.SysRoot, Netns: cfg.Netns, Links: cfg.Interfaces}
	if probes != nil {
		opts.InPath = probes
	}
	col := collect.New(opts)
	defer col.Close()
	first, err := col.Sample()
	if err != nil {
		return nil, classify(err)
	}
	if err := wait(ctx, cfg.Interval, progress); err != nil {
		return nil, err
	}
	second, err := col.Sample()
	if err != nil {
		return nil, classify(err)
	}
	d, err := sample.Diff(first, second)
	if err != nil {
		return nil, fmt.Errorf("diff samples: %w", err)
	}
	r := policy.Analyze(d, cfg.Policy)
	r.Missing = append(r.Missing, second.Errors...)
	meta.Attribution = r.Attribution
	if probes != nil && second.InPath != nil {
		meta.XDPMode = second.InPath.XDPMode
		if second.InPath.Note != "" {
			meta.BPFNote = joinNote(meta.BPFNote, second.InPath.Note)
		}
		meta.Foreign = second.InPath.Foreign
	}
	return &measurement{report: r, delta: d, meta: meta}, nil
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
