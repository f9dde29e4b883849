package render

import (
	"fmt"
	"io"
	"strings"

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
		return writeJSON(w, checkDoc{Mode: checkModeIDs[mode], Features: feat})
	case FormatTable:
		return CheckTable(w, feat, mode, Look{})
	}
	return errFormat("check", f)
}

// checkDoc is check's JSON: the mode first, then the features (docs/schema.md).
type checkDoc struct {
	Mode string `json:"mode"` // full, degraded or unprobed
	bpf.Features
}

var checkModeIDs = map[CheckMode]string{CheckFull: "full", CheckDegraded: "degraded", CheckUnprobed: "unprobed"}

var checkModes = map[CheckMode]string{
	CheckFull:     "full: in-path counts per queue and drop reasons",
	CheckDegraded: "degraded: see the features marked no",
	CheckUnprobed: "counters only without root; run check as root to see what the kernel supports",
}

var checkModeStyle = map[CheckMode]string{CheckFull: styleGreen, CheckDegraded: styleAmber, CheckUnprobed: styleAmber}

// CheckTable says the mode first (the answer), then the features behind it; on a terminal
// the mode and each yes or no are coloured.
func CheckTable(w io.Writer, f bpf.Features, mode CheckMode, look Look) error {
	if _, err := fmt.Fprintf(w, "%s\n\n", look.paint(checkModeStyle[mode], "mode: "+checkModes[mode])); err != nil {
		return err
	}
	t := &columns{width: look.Width}
	row := func(name string, ft bpf.Feature, extra string) {
		state := look.paint(styleGreen, "yes")
		if !ft.OK {
			state = look.paint(styleRed, "no")
		}
		why := ft.Reason
		if extra != "" {
			why = extra
		}
		t.row(name, state, why)
	}
	t.row("FEATURE", "AVAILABLE", "DETAIL")
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
	if err := t.write(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", wrap("", "  ", fmt.Sprintf("tc programs: %s; drop tracing: %s; XDP %s", f.TCMode, f.DropsMode, xdpLine(f.XDPMode)), look.Width))
	return err
}

// xdpLine is the XDP mode that --xdp auto picks, said once: "auto: native on veth…" or, from
// an older description without the prefix, "with auto: generic on veth…".
func xdpLine(m string) string {
	if strings.HasPrefix(m, "auto: ") {
		return m
	}
	return "with auto: " + m
}
