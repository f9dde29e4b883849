package render

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nettune/nettune/bpf"
)

// CheckMode is what check concludes about the mode nettune will run in.
type CheckMode int

const (
	CheckFull     CheckMode = iota // in-path counts per queue and drop reasons
	CheckDegraded                  // a feature full mode needs is missing
	CheckUnprobed                  // not root: the programs that would find out could not be loaded
)

// Check writes check's answer: which eBPF features the kernel has, and the mode they make.
func Check(w io.Writer, f Format, feat bpf.Features, mode CheckMode) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, feat)
	case FormatTable:
		return checkTable(w, feat, mode)
	}
	return errFormat("check", f)
}

var checkModes = map[CheckMode]string{
	CheckFull:     "full: in-path counts per queue and drop reasons",
	CheckDegraded: "degraded: see the features marked no",
	CheckUnprobed: "counters only without root; run check as root to see what the kernel supports",
}

func checkTable(w io.Writer, f bpf.Features, mode CheckMode) error {
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
	_, err := fmt.Fprintf(w, "\ntc programs: %s; drop tracing: %s; XDP with auto: %s\nmode: %s\n",
		f.TCMode, f.DropsMode, f.XDPMode, checkModes[mode])
	return err
}
