package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/render"
)

// wholeNode: with no --netns a command examines every namespace of the node
// (pipeline.Node); --netns host is nettune's own namespace alone. --iface without --netns
// names links of nettune's own namespace, as it always did: an interface name means
// something in one namespace only.
func wholeNode(cfg Config) bool { return cfg.Netns == "" && len(cfg.Interfaces) == 0 }

// adviseNode is advise over every namespace: the node's report in the chosen format, the
// HTML page and the Prometheus textfile beside it, and the loss exit status when any
// namespace lost packets.
func adviseNode(ctx context.Context, c *common, cfg Config, format render.Format, f adviseFlags) error {
	node, err := pipeline.OpenNode(pipelineOptions(cfg))
	if err != nil {
		return classify(err)
	}
	// Closed after the report is written: detaching the probes of many links takes as long
	// as attaching them (a grace period per tc hook, docs/bpf.md).
	defer node.Close()
	res, err := node.Measure(ctx, func(ctx context.Context) error { return wait(ctx, cfg.Interval, c.s.Err) })
	if err != nil {
		return classify(err)
	}
	switch format {
	case render.FormatTable:
		err = render.NodeTableLook(c.s.Out, res, c.look(c.s.Out, f.all))
	case render.FormatPrometheus:
		err = render.PrometheusNode(c.s.Out, res, cfg.Serve.MaxNamespaces)
	default:
		err = render.NodeAdvise(c.s.Out, format, res)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if f.textfile != "" {
		if err := fsx.WriteFileAtomic(f.textfile, 0o644, func(w io.Writer) error {
			return render.PrometheusNode(w, res, cfg.Serve.MaxNamespaces)
		}); err != nil {
			return fmt.Errorf("textfile: %w", err)
		}
	}
	if f.html != "" {
		if err := fsx.WriteFileAtomic(f.html, 0o644, func(w io.Writer) error { return render.NodeHTML(w, res) }); err != nil {
			return fmt.Errorf("html: %w", err)
		}
	}
	if len(res.Lossy()) > 0 {
		return errLoss
	}
	return nil
}
