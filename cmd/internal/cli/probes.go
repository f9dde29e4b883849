package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/nettune/nettune/bpf"
)

// probeSet is the in-path probes attached for one command; collect.InPathSource.
type probeSet struct{ *bpf.Probes }

// attachProbes attaches the in-path counters and drop tracing the config asks for. It never
// fails the command: without root or kernel support advise falls back to counters only, and
// the returned note says why (it is printed with the report).
func attachProbes(cfg Config) (*probeSet, string) {
	if os.Geteuid() != 0 {
		return nil, "counters only: eBPF probes need root"
	}
	p, err := bpf.Attach(bpf.Options{Netns: cfg.Netns, Links: cfg.Interfaces, XDPMode: cfg.BPF.XDP,
		InPath: true, Drops: cfg.BPF.Drops})
	if err != nil {
		return nil, fmt.Sprintf("counters only: %v", err)
	}
	return &probeSet{p}, strings.Join(p.Notes, "; ")
}
