package cli

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/render"
)

// notProbed replaces the modes check reports when it could not load programs to find out.
const notProbed = "unknown (loading eBPF programs needs root)"

// errDegraded makes check exit 1: nettune would run with less than full mode.
var errDegraded = errors.New("full mode is not possible on this kernel")

func newCheck(c *common) *cobra.Command {
	var output render.Format
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Show which eBPF features this kernel has and which mode nettune will use",
		Long: `check probes the running kernel (BTF, XDP links, tcx, tp_btf, drop-reason names, drop
locations, BPF_PROG_TEST_RUN) and says which mode advise and drops will use. Nothing stays
attached. Exit status 0 when full mode (in-path counts and drop reasons) is possible, 1 when
nettune will run degraded (counters only, or drops by location without reasons).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := bpf.CheckFeatures()
			mode := render.CheckFull
			switch {
			case os.Geteuid() != 0:
				// Loading failed for want of root, not support: what Attach would use is unknown.
				f.TCMode, f.DropsMode = notProbed, notProbed
				mode = render.CheckUnprobed
			case !fullMode(f):
				mode = render.CheckDegraded
			}
			write := func() error { return render.Check(c.s.Out, output, f, mode) }
			if output == render.FormatTable {
				write = func() error { return render.CheckTable(c.s.Out, f, mode, c.look(c.s.Out, false)) }
			}
			if err := write(); err != nil {
				return err
			}
			if mode != render.CheckFull {
				return errDegraded
			}
			return nil
		},
	}
	outputFlag(cmd.Flags(), &output, otherFormats)
	return cmd
}

// fullMode: per-queue in-path counts (XDP link or tc) and drops with reason names.
func fullMode(f bpf.Features) bool {
	return f.BTF.OK && f.TPBTF.OK && f.DropReasons.OK && (f.TCX.OK || f.TCMode == "clsact")
}
