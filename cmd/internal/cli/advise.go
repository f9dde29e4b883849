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
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

type adviseFlags struct {
	noBPF    bool
	textfile string
	html     string
	all      bool
	watch    bool
}

func newAdvise(c *common) *cobra.Command {
	var f adviseFlags
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Measure one interval and say where packets are lost and what to change",
		Example: `  nettune advise
  nettune advise --interval 30s --iface eth0 -o json
  nettune advise --netns web-7f9c
  nettune advise --netns pod/default/dns-0
  nettune advise --netns host
  nettune advise --html report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			format := render.Format(cfg.Output) // -o or the config file's, checked by Config.Validate
			if f.noBPF {
				cfg.BPF.Enabled = false
			}
			if f.watch {
				if format != render.FormatTable || f.html != "" || f.textfile != "" {
					return usagef("--watch draws the table: it takes no -o, --html or --textfile")
				}
				return watch(cmd.Context(), cfg, c, f.all)
			}
			if wholeNode(cfg) {
				return adviseNode(cmd.Context(), c, cfg, format, f)
			}
			res, err := measure(cmd.Context(), cfg, c.s.Err)
			if err != nil {
				return err
			}
			if format == render.FormatTable {
				err = render.TableLook(c.s.Out, res, c.look(c.s.Out, f.all))
			} else {
				err = render.Advise(c.s.Out, format, res)
			}
			if err != nil {
				return fmt.Errorf("write report: %w", err)
			}
			if f.textfile != "" {
				err := fsx.WriteFileAtomic(f.textfile, 0o644, func(w io.Writer) error { return render.Prometheus(w, res) })
				if err != nil {
					return fmt.Errorf("textfile: %w", err)
				}
			}
			if f.html != "" {
				if err := fsx.WriteFileAtomic(f.html, 0o644, func(w io.Writer) error { return render.HTML(w, res) }); err != nil {
					return fmt.Errorf("html: %w", err)
				}
			}
			if res.Report.Loss() {
				return errLoss
			}
			return nil
		},
	}
	addMeasureFlags(cmd)
	cmd.Flags().BoolVar(&f.noBPF, "no-bpf", false, "counters only: attach no eBPF probes")
	outputFlag(cmd.Flags(), new(render.Format), adviseFormats) // read through the config (flagKeys)
	cmd.Flags().BoolVar(&f.watch, "watch", false, "measure every interval and redraw the verdict and the lossy funnels in place, like top (q or Ctrl-C quits); piped, one report per interval")
	cmd.Flags().BoolVar(&f.all, "all", false, "table: draw every funnel with traffic, not only those that lost packets")
	cmd.Flags().StringVar(&f.html, "html", "", "also write the report as one self-contained HTML page to this file (to share or attach to a ticket)")
	cmd.Flags().StringVar(&f.textfile, "textfile", "", "also write the Prometheus text format to this file, atomically (node_exporter textfile collector)")
	return cmd
}

// addMeasureFlags adds the flags that choose what is measured (config keys, see flagKeys).
func addMeasureFlags(cmd *cobra.Command) {
	cmd.Flags().Duration("interval", 10*time.Second, "measurement interval")
	cmd.Flags().StringSlice("iface", nil, "interfaces to examine (default: all)")
	cmd.Flags().String("netns", "", "network namespace (default: every namespace of the node): host (nettune's own alone), a name under /run/netns, a path such as /proc/PID/ns/net, pod/NAMESPACE/NAME or container/ID (a unique prefix is enough)")
	cmd.Flags().String("xdp", "auto", "XDP counting mode: off, generic, native or auto")
}

// pipelineOptions is what the configuration asks of a run.
func pipelineOptions(cfg Config) pipeline.Options {
	return pipeline.Options{ProcRoot: cfg.ProcRoot, SysRoot: cfg.SysRoot, Netns: cfg.Netns, Links: cfg.Interfaces,
		Probes: cfg.BPF.Enabled, XDP: cfg.BPF.XDP, Drops: cfg.BPF.Drops, Policy: cfg.Policy, Check: checkInvariants,
		Owner: ownerOptions}
}

// ownerOptions say where namespaces' owners are looked up: the zero value is the host's
// runtime sockets and kubelet log directories. Tests point it at the containerd they run.
var ownerOptions owner.Options

// checkInvariants makes every run hold its report to policy.Check: the tests set it, so
// every lab scenario and closed loop they run is checked.
var checkInvariants bool

// measure runs the pipeline over one interval, drawing progress on a terminal.
func measure(ctx context.Context, cfg Config, progress io.Writer) (*pipeline.Result, error) {
	run := pipeline.Open(pipelineOptions(cfg))
	defer run.Close()
	res, err := run.Measure(ctx, func(ctx context.Context) error { return wait(ctx, cfg.Interval, progress) })
	if err != nil {
		return nil, classify(err)
	}
	return res, nil
}

// classify turns reader errors caused by the user's input into usage errors (exit 2).
func classify(err error) error {
	switch {
	case errors.Is(err, netdev.ErrNoLink), errors.Is(err, netns.ErrNotFound), errors.Is(err, collect.ErrRoot),
		errors.Is(err, pipeline.ErrBadReference), errors.Is(err, pipeline.ErrAmbiguous):
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
