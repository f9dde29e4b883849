package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

type dropsFlags struct {
	every   time.Duration
	count   int
	top     int
	output  render.Format
	reasons []string
	filter  dropFilter
	names   *netnsNames
	look    render.Look
}

func newDrops(c *common) *cobra.Command {
	var f dropsFlags
	cmd := &cobra.Command{
		Use:   "drops",
		Short: "Live view of packet drops by reason, kernel location, interface and netns",
		Long: `drops attaches a kfree_skb tracer and shows, once per second, which drop reasons
(names from the running kernel's BTF) and kernel locations are dropping packets, on which
interface and in which network namespace of the node (by name: host, the pod and its
containers, a container, the ip netns name, or the process in it), with the count of each
interval. --reason, --iface and --netns narrow the rows.
Ctrl-C detaches everything. -o json streams one JSON object per interval.`,
		Example: `  nettune drops
  nettune drops --reason SOCKET_RCVBUFF --netns web
  nettune drops --iface eth0 --every 5s --count 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if f.every < 100*time.Millisecond {
				return usagef("every: %s is shorter than 100ms", f.every)
			}
			if f.filter, err = newDropFilter(f.reasons, cfg.Interfaces, cfg.Netns); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("drops attaches an eBPF tracer and needs root")
			}
			f.names = &netnsNames{procRoot: "/proc", owners: &owner.Options{}}
			if f.output == render.FormatTable && f.count == 0 && isTerminal(c.s.Err) {
				fmt.Fprintf(c.s.Err, "counting drops every %s (Ctrl-C to stop)\n", f.every)
			}
			ns := cfg.Netns // whose interface names to show; the tracer counts every namespace
			if ns == "host" {
				ns = ""
			}
			p, err := bpf.Attach(bpf.Options{Targets: []bpf.Target{{Netns: ns, Links: cfg.Interfaces}}, Drops: true})
			if err != nil {
				return classify(fmt.Errorf("attach drop tracer: %w", err))
			}
			defer p.Close()
			f.look = c.look(c.s.Out, false)
			return streamDrops(cmd.Context(), p, f, c.s.Out)
		},
	}
	cmd.Flags().String("netns", "", "only drops in this network namespace (a name under /run/netns, a path such as /proc/PID/ns/net, or host)")
	cmd.Flags().StringSlice("iface", nil, "only drops on these interfaces")
	cmd.Flags().StringSliceVar(&f.reasons, "reason", nil, "only drops with these reasons (e.g. SOCKET_RCVBUFF, NO_SOCKET; case and the SKB_DROP_REASON_ prefix do not matter)")
	cmd.Flags().DurationVar(&f.every, "every", time.Second, "refresh interval")
	countFlag(cmd.Flags(), &f.count, "count", 0, 0, "stop after this many intervals (0 = until Ctrl-C)")
	countFlag(cmd.Flags(), &f.top, "top", 25, 1, "rows per interval in the table")
	outputFlag(cmd.Flags(), &f.output, otherFormats)
	return cmd
}

type dropSource interface {
	Drops() ([]model.DropCount, error)
}

func streamDrops(ctx context.Context, p dropSource, f dropsFlags, w io.Writer) error {
	prev, err := p.Drops()
	if err != nil {
		return err
	}
	last := time.Now()
	tick := time.NewTicker(f.every)
	defer tick.Stop()
	o := render.DropsOptions{Top: f.top, Clear: f.output == render.FormatTable && isTerminal(w), Look: f.look}
	for n := 0; f.count == 0 || n < f.count; n++ {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is how a live view ends; the deferred Close detaches
		case now := <-tick.C:
			cur, err := p.Drops()
			if err != nil {
				return err
			}
			frame := pipeline.Drops(prev, cur, now, now.Sub(last))
			prev, last = cur, now
			f.filter.apply(&frame)
			if f.names != nil {
				f.names.name(&frame)
			}
			if err := render.Drops(w, f.output, frame, o); err != nil {
				return err
			}
		}
	}
	return nil
}
