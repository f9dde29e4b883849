package render

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nettune/nettune/bpf"
)

// Check writes check's answer: which eBPF features the kernel has, and whether nettune runs
// in full mode (in-path counts per queue and drop reasons) or degraded.
func Check(w io.Writer, f Format, feat bpf.Features, full bool) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, feat)
	case FormatTable:
		return checkTable(w, feat, full)
	}
	return errFormat("check", f)
}

func checkTable(w io.Writer, f bpf.Features, full bool) error {
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
	if !full {
		mode = "degraded: see the features marked no"
	}
	_, err := fmt.Fprintf(w, "\ntc programs: %s; drop tracing: %s; XDP with auto: %s\nmode: %s\n",
		f.TCMode, f.DropsMode, f.XDPMode, mode)
	return err
}
