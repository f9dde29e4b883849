package cli

import (
	"fmt"
	"os"

	"github.com/nettune/nettune/bpf"
)

// probeSet is the in-path probes attached for one command; collect.InPathSource.
type probeSet struct{ *bpf.Probes }

// attachProbes attaches the in-path counters and drop tracing the config asks for. It never
// fails the command: without root or kernel support advise falls back to counters only, and
// the returned note says why (it is printed with the report). Once attached, the probes' own
// notes and coverage come with every snapshot (model.InPath), so no note is returned.
func attachProbes(cfg Config) (*probeSet, string) {
	if os.Geteuid() != 0 {
		return nil, "counters only: eBPF probes need root"
	}
	p, err := bpf.Attach(bpf.Options{Targets: []bpf.Target{{Netns: cfg.Netns, Links: cfg.Interfaces}},
		XDPMode: cfg.BPF.XDP, InPath: true, Drops: cfg.BPF.Drops})
	if err != nil {
		return nil, fmt.Sprintf("counters only: %v", err)
	}
	return &probeSet{p}, ""
}
