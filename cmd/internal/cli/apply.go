package cli

import (
	"context"
	"errors"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

type applyFlags struct {
	dryRun bool
	auto   bool
	plan   string
}

func newApply(c *common) *cobra.Command {
	var f applyFlags
	var output render.Format
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Apply the plan advise proposes: journal first, then change, then verify",
		Long: `apply measures one interval like advise and carries out its plan. Every change is written
to a journal (and fsynced) before it is made, read back after, and can be undone with
rollback. Settings an admin owns (sysctl.d, irqbalance, values changed by someone else) are
left alone and reported. Ring and channel changes interrupt traffic on many drivers and need
--allow-disruptive. With --netns, knobs of the whole host (net.core.rmem_default, every
namespace's conntrack limit ...) are only advice unless --allow-global says to change them
for every namespace.

--dry-run shows the exact actions and changes nothing (it works without root where the
counters are readable). --auto is for cron or a systemd timer: it does not sleep, it takes the
delta since the previous run (kept in the state directory), acts only on loss that persists,
and reverts changes that did not help.

--plan FILE applies a plan someone reviewed, exactly: the plan of advise -o json, measured on
this host, without measuring again: of one namespace (advise --netns) or of every namespace of
the node (advise with no --netns). Each action is applied only while its knob still holds the
value the plan saw; one that changed since is refused and reported, and so is every action of a
namespace that is gone, or whose inode now names another pod's. --persist makes the changes
survive a reboot (sysctls in nettune's sysctl.d file, ring sizes, RPS masks and IRQ affinity
through nettune restore at boot); rollback undoes that too.`,
		Example: `  nettune apply --dry-run
  nettune apply --interval 30s
  nettune advise -o json > plan.json && nettune apply --plan plan.json
  nettune apply --persist
  nettune apply --auto            # from configs/nettune.timer or configs/nettune.cron`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if f.dryRun && f.auto {
				return usagef("--dry-run and --auto exclude each other")
			}
			if f.plan != "" {
				if f.auto {
					return usagef("--plan and --auto exclude each other")
				}
				for _, name := range []string{"interval", "iface", "netns", "xdp"} {
					if cmd.Flags().Changed(name) {
						return usagef("--plan applies the plan as it was measured: --%s does not apply to it", name)
					}
				}
			}
			if !f.dryRun && os.Geteuid() != 0 {
				return usagef("apply changes kernel settings and needs root (try --dry-run)")
			}
			a := newApplier(cfg)
			if f.auto {
				defer oneShotGC()()
				res, err := autoRun(cfg, a)
				if err != nil {
					return applyErr(err)
				}
				if output == render.FormatTable {
					return render.AutoTable(c.s.Out, res, c.look(c.s.Out, false))
				}
				return render.Auto(c.s.Out, output, res)
			}
			if f.plan != "" {
				return applyPlan(c, a, f, output)
			}
			cfg.BPF.Enabled = false // the plan comes from counters; probes add nothing to it
			if wholeNode(cfg) {
				return applyNode(cmd.Context(), c, cfg, a, f, output)
			}
			m, err := measure(cmd.Context(), cfg, c.s.Err)
			if err != nil {
				return err
			}
			var res *apply.Result
			if f.dryRun {
				res, err = a.DryRun(m.Report.Plan)
			} else {
				res, err = a.Apply(m.Report.Plan)
			}
			if res != nil {
				var werr error
				if output == render.FormatTable {
					werr = render.ApplyTable(c.s.Out, res, m.Report, c.look(c.s.Out, false))
				} else {
					werr = render.Apply(c.s.Out, output, res, m.Report)
				}
				if werr != nil {
					return werr
				}
			}
			return applyErr(err)
		},
	}
	addMeasureFlags(cmd)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the actions and change nothing")
	cmd.Flags().BoolVar(&f.auto, "auto", false, "periodic remediation (cron/systemd timer): delta since the previous run")
	cmd.Flags().StringVar(&f.plan, "plan", "", "apply this reviewed plan (advise -o json; - for stdin) instead of measuring")
	cmd.Flags().Bool("allow-disruptive", false, "allow changes that interrupt traffic (ring sizes)")
	cmd.Flags().Bool("allow-global", false, "with --netns, also change host-wide knobs, which affect every namespace")
	cmd.Flags().Bool("persist", false, "make the changes survive a reboot: sysctls in nettune's sysctl.d file, other knobs through nettune restore at boot")
	cmd.Flags().String("state-dir", "/var/lib/nettune", "journal, lock and previous sample")
	outputFlag(cmd.Flags(), &output, otherFormats)
	return cmd
}

// applyNode measures one interval of every namespace and applies (or dry-runs) the plan of
// each lossy one, in one journaled run.
func applyNode(ctx context.Context, c *common, cfg Config, a *apply.Applier, f applyFlags, output render.Format) error {
	o := pipelineOptions(cfg)
	o.Probes = false
	node, err := pipeline.OpenNode(o)
	if errors.Is(err, os.ErrNotExist) {
		return usagef("%w (check proc_root)", err) // its own namespace's file: /proc is not a procfs
	}
	if err != nil {
		return classify(err)
	}
	defer node.Close()
	nr, err := node.Measure(ctx, func(ctx context.Context) error { return wait(ctx, cfg.Interval, c.s.Err) })
	if err != nil {
		return classify(err)
	}
	var res *apply.Result
	if f.dryRun {
		res, err = a.DryRunNode(nr)
	} else {
		res, err = a.ApplyNode(nr)
	}
	if res != nil {
		var werr error
		if output == render.FormatTable {
			werr = render.ApplyNodeTable(c.s.Out, res, nr, c.look(c.s.Out, false))
		} else {
			werr = render.ApplyNode(c.s.Out, output, res, nr)
		}
		if werr != nil {
			return werr
		}
	}
	return applyErr(err)
}

// applyPlan applies (or dry-runs) the reviewed plan of f.plan.
func applyPlan(c *common, a *apply.Applier, f applyFlags, output render.Format) error {
	in := c.s.In
	if f.plan != "-" {
		file, err := os.Open(f.plan)
		if err != nil {
			return usagef("plan: %w", err)
		}
		defer file.Close()
		in = file
	}
	plan, err := a.ReadPlan(in)
	if err != nil {
		return asUsage(err)
	}
	var res *apply.Result
	switch {
	case plan.Schema == apply.NodeSchema && f.dryRun:
		res, err = a.DryRunReviewedNode(plan.Namespaces)
	case plan.Schema == apply.NodeSchema:
		res, err = a.ApplyReviewedNode(plan.Namespaces)
	case f.dryRun:
		res, err = a.DryRunReviewed(plan.Actions)
	default:
		res, err = a.ApplyReviewed(plan.Actions)
	}
	if res != nil {
		// The table's header says what a run without actions means: the plan had none.
		if werr := render.Apply(c.s.Out, output, res, &policy.Report{Plan: plan.All()}); werr != nil {
			return werr
		}
	}
	return applyErr(err)
}

// singleNetns is the namespace a plan for one namespace was made for, as the applier's
// --allow-global rule needs it: "" for nettune's own ("host", or no --netns with --iface).
func singleNetns(ref string) string {
	if ref == "host" {
		return ""
	}
	return ref
}

func newApplier(cfg Config) *apply.Applier {
	return apply.New(apply.Options{
		StateDir:        cfg.Apply.StateDir,
		Env:             live.Env{ProcRoot: cfg.ProcRoot, SysRoot: cfg.SysRoot, Ring: live.EthtoolRing{}},
		Config:          cfg.Policy,
		Auto:            cfg.autoConfig(),
		AllowDisruptive: cfg.Apply.AllowDisruptive,
		Netns:           singleNetns(cfg.Netns),
		AllowGlobal:     cfg.Apply.AllowGlobal,
		Persist:         cfg.Apply.Persist,
		PersistFile:     cfg.Apply.PersistFile,
		LockTimeout:     cfg.lockTimeout(),
	})
}

// autoRun takes one sample and lets the applier act on the interval since the previous run's:
// of every namespace with no --netns (wholeNode), else of the one namespace.
func autoRun(cfg Config, a *apply.Applier) (*apply.AutoResult, error) {
	o := pipelineOptions(cfg)
	o.Probes = false
	if wholeNode(cfg) {
		return autoNode(o, a)
	}
	run := pipeline.Open(o)
	defer run.Close()
	return autoStep(run, a)
}

// autoNode is one run of periodic remediation over every namespace of the node.
func autoNode(o pipeline.Options, a *apply.Applier) (*apply.AutoResult, error) {
	node, err := pipeline.OpenNode(o)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usagef("%w (check proc_root)", err)
	}
	if err != nil {
		return nil, classify(err)
	}
	defer node.Close()
	cur, err := node.Sample()
	if err != nil {
		return nil, classify(err)
	}
	return a.AutoNode(cur, func(prev, cur *collect.NodeSample) (*pipeline.NodeResult, error) {
		return node.Analyze(context.Background(), prev, cur)
	})
}

// autoStep is one run of periodic remediation with a run's collector: apply --auto reads
// the findings and the plan only, so the per-link funnel is not built (Run.Findings).
func autoStep(run *pipeline.Run, a *apply.Applier) (*apply.AutoResult, error) {
	cur, err := run.Sample()
	if err != nil {
		return nil, classify(err)
	}
	return a.Auto(cur, run.Findings)
}

// oneShotGC turns the garbage collector off for a cron run: at 1 000 interfaces it
// allocates about 5 MB and exits, and collecting cost more CPU (and resident memory) than
// it freed (docs/benchmarks.md). The memory limit turns collection back on should a host
// ever need far more. It returns what restores the settings (for callers that go on, such
// as tests that run the command in-process).
func oneShotGC() (restore func()) {
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(64<<20)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

func newRollback(c *common) *cobra.Command {
	var output render.Format
	cmd := &cobra.Command{
		Use:   "rollback [APPLY-ID]",
		Short: "Restore the values nettune found before it changed them (all, or one apply)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("rollback changes kernel settings and needs root")
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			res, err := newApplier(cfg).Rollback(id)
			if res != nil {
				var werr error
				if output == render.FormatTable {
					werr = render.RollbackTable(c.s.Out, res, c.look(c.s.Out, false))
				} else {
					werr = render.Rollback(c.s.Out, output, res)
				}
				if werr != nil {
					return werr
				}
			}
			return applyErr(err)
		},
	}
	cmd.Flags().String("state-dir", "/var/lib/nettune", "journal, lock and previous sample")
	outputFlag(cmd.Flags(), &output, otherFormats)
	return cmd
}

func newStatus(c *common) *cobra.Command {
	var output render.Format
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what nettune changed, when, why, and any drift since",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			st, err := newApplier(cfg).Status()
			if err != nil {
				return applyErr(err)
			}
			if output == render.FormatTable {
				return render.StatusTable(c.s.Out, st, c.look(c.s.Out, false))
			}
			return render.Status(c.s.Out, output, st)
		},
	}
	cmd.Flags().String("state-dir", "/var/lib/nettune", "journal, lock and previous sample")
	outputFlag(cmd.Flags(), &output, otherFormats)
	return cmd
}
