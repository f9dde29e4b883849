package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/model"
)

type dropsFlags struct {
	every  time.Duration
	count  int
	top    int
	output string
}

func newDrops(c *common) *cobra.Command {
	var f dropsFlags
	cmd := &cobra.Command{
		Use:   "drops",
		Short: "Live view of packet drops by reason, kernel location, interface and netns",
		Long: `drops attaches a kfree_skb tracer and shows, once per second, which drop reasons
(names from the running kernel's BTF) and kernel locations are dropping packets, on which
interface and in which network namespace, with rates. Ctrl-C detaches everything.
-o json streams one JSON object per interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd.Flags())
			if err != nil {
				return err
			}
			if f.output != "table" && f.output != "json" {
				return usagef("output: %q is not one of table, json", f.output)
			}
			if f.every < 100*time.Millisecond {
				return usagef("every: %s is shorter than 100ms", f.every)
			}
			if os.Geteuid() != 0 {
				return usagef("drops attaches an eBPF tracer and needs root")
			}
			p, err := bpf.Attach(bpf.Options{Targets: []bpf.Target{{Netns: cfg.Netns, Links: cfg.Interfaces}}, Drops: true})
			if err != nil {
				return classify(fmt.Errorf("attach drop tracer: %w", err))
			}
			defer p.Close()
			return streamDrops(cmd.Context(), p, f, c.s.Out)
		},
	}
	cmd.Flags().String("netns", "", "namespace whose interface names to show (drops from every namespace are counted)")
	cmd.Flags().DurationVar(&f.every, "every", time.Second, "refresh interval")
	cmd.Flags().IntVar(&f.count, "count", 0, "stop after this many intervals (0 = until Ctrl-C)")
	cmd.Flags().IntVar(&f.top, "top", 25, "rows per interval in the table")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// dropRow is one (reason, location, interface, netns) with its count in the interval.
type dropRow struct {
	Reason   string  `json:"reason"`
	Location string  `json:"location"`
	Ifindex  int     `json:"ifindex"`
	Link     string  `json:"link,omitempty"`
	Netns    uint64  `json:"netns"`
	Count    uint64  `json:"count"`
	Rate     float64 `json:"rate"`
}

type dropsFrame struct {
	Time            time.Time `json:"time"`
	IntervalSeconds float64   `json:"interval_seconds"`
	Drops           []dropRow `json:"drops"`
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
	clear := f.output == "table" && isTerminal(w)
	for n := 0; f.count == 0 || n < f.count; n++ {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C is how a live view ends; the deferred Close detaches
		case now := <-tick.C:
			cur, err := p.Drops()
			if err != nil {
				return err
			}
			frame := dropsFrame{Time: now, IntervalSeconds: now.Sub(last).Seconds(), Drops: dropDelta(prev, cur, now.Sub(last))}
			prev, last = cur, now
			if err := writeFrame(w, f, frame, clear); err != nil {
				return err
			}
		}
	}
	return nil
}

func dropDelta(prev, cur []model.DropCount, d time.Duration) []dropRow {
	type key struct {
		reason, loc string
		ifx         int
		ns          uint64
	}
	before := make(map[key]uint64, len(prev))
	for _, x := range prev {
		before[key{x.Reason, x.Location, x.Ifindex, x.Netns}] = x.Count
	}
	rows := []dropRow{}
	for _, x := range cur {
		b := before[key{x.Reason, x.Location, x.Ifindex, x.Netns}]
		if x.Count <= b {
			continue
		}
		n := x.Count - b
		rows = append(rows, dropRow{Reason: x.Reason, Location: x.Location, Ifindex: x.Ifindex, Link: x.Link,
			Netns: x.Netns, Count: n, Rate: float64(n) / d.Seconds()})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Count != rows[j].Count {
			return rows[i].Count > rows[j].Count
		}
		return rows[i].Reason+rows[i].Location < rows[j].Reason+rows[j].Location
	})
	return rows
}

func writeFrame(w io.Writer, f dropsFlags, fr dropsFrame, clear bool) error {
	if f.output == "json" {
		return json.NewEncoder(w).Encode(fr)
	}
	if clear {
		fmt.Fprint(w, "\033[H\033[2J")
	}
	var total float64
	for _, r := range fr.Drops {
		total += r.Rate
	}
	fmt.Fprintf(w, "%s  drops: %.0f/s  (Ctrl-C to stop)\n", fr.Time.Format("15:04:05"), total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RATE/s\tCOUNT\tREASON\tLOCATION\tIFACE\tNETNS\n")
	for i, r := range fr.Drops {
		if i == f.top {
			fmt.Fprintf(tw, "…\t%d more\t\t\t\t\n", len(fr.Drops)-f.top)
			break
		}
		iface := r.Link
		if iface == "" {
			iface = fmt.Sprintf("if%d", r.Ifindex)
			if r.Ifindex == 0 {
				iface = "-"
			}
		}
		fmt.Fprintf(tw, "%.1f\t%d\t%s\t%s\t%s\t%d\n", r.Rate, r.Count, r.Reason, r.Location, iface, r.Netns)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !clear {
		_, err := fmt.Fprintln(w)
		return err
	}
	return nil
}
