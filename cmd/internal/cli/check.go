package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/bpf"
)

// notProbed replaces the modes check reports when it could not load programs to find out.
const notProbed = "unknown (loading eBPF programs needs root)"

// errDegraded makes check exit 1: nettune would run with less than full mode.
var errDegraded = errors.New("full mode is not possible on this kernel")

func newCheck(c *common) *cobra.Command {
	var output string
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
			if os.Geteuid() != 0 {
				// Loading failed for want of root, not support: what Attach would use is unknown.
				f.TCMode, f.DropsMode = notProbed, notProbed
			}
			if err := emit(c.s.Out, output, f, ""); err != nil {
				return err
			}
			if output != "json" {
				if err := checkTable(c.s.Out, f); err != nil {
					return err
				}
			}
			if !fullMode(f) {
				return errDegraded
			}
			return nil
		},
	}
	enumFlag(cmd.Flags(), &output, "output", "o", []string{"table", "json"}, "output format")
	return cmd
}

// fullMode: per-queue in-path counts (XDP link or tc) and drops with reason names.
func fullMode(f bpf.Features) bool {
	return f.BTF.OK && f.TPBTF.OK && f.DropReasons.OK && (f.TCX.OK || f.TCMode == "clsact")
}

func checkTable(w io.Writer, f bpf.Features) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name string, ft bpf.Feature, extra string) {
		state := "yes"
		if !ft.OK {
			state = "no"
		}
		why := ft.Reason
		if extra != "" {
			why = extra
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, state, why)
	}
	fmt.Fprintf(tw, "FEATURE\tAVAILABLE\tDETAIL\n")
	row("BTF (/sys/kernel/btf/vmlinux)", f.BTF, "")
	row("XDP via bpf_link", f.XDPLink, "")
	row("tcx (kernel ≥ 6.6)", f.TCX, "")
	row("tp_btf tracing", f.TPBTF, "")
	reasons := ""
	if f.DropReasons.OK {
		reasons = fmt.Sprintf("%d reasons in enum skb_drop_reason", f.DropReasonCount)
	}
	row("drop reasons (BTF)", f.DropReasons, reasons)
	locations := ""
	if f.DropLocations.OK && !f.DropReasons.OK {
		locations = "kernel functions only: kfree_skb has no reason argument before 5.17"
	}
	row("drop locations (kfree_skb)", f.DropLocations, locations)
	row("BPF_PROG_TEST_RUN", f.TestRun, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	mode := "full: in-path counts per queue and drop reasons"
	switch {
	case f.TCMode == notProbed:
		mode = "counters only without root; run check as root to see what the kernel supports"
	case !fullMode(f):
		mode = "degraded: see the features marked no"
	}
	_, err := fmt.Fprintf(w, "\ntc programs: %s; drop tracing: %s; XDP with auto: %s\nmode: %s\n",
		f.TCMode, f.DropsMode, f.XDPMode, mode)
	return err
}
