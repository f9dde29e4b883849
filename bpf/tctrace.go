package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// tcPerLinkMax is the most links auto counts with tc programs on each link. Every tcx
// attachment is made and removed under the RTNL lock after an RCU grace period (about 9 ms
// each here, and threads cannot overlap them: docs/bpf.md), two hooks a link: 16 links cost
// some 0.6 s of wall time, 1 000 links 40 s. Beyond it two host-wide tracepoints count the
// same places with one attachment each.
const tcPerLinkMax = 16

// stackedKinds are link kinds __netif_receive_skb_core reaches by switching skb->dev and
// going round again, without firing netif_receive_skb for them: in tracepoint mode their
// ingress is counted by a tc program on the link (rx_by_tc), egress by the tracepoint.
var stackedKinds = map[string]bool{"vlan": true, "macvlan": true, "macvtap": true, "ipvlan": true, "ipvtap": true,
	"bond": true, "team": true, "macsec": true}

// rxByTC reports whether l's ingress is counted by a tc program although tracepoints count
// the tc points.
func (p *Probes) rxByTC(l *watchedLink) uint32 {
	if p.tcTrace && stackedKinds[l.kind] {
		return 1
	}
	return 0
}

// chooseTCTrace attaches the tc tracepoints when the options call for them and returns how
// many programs it attached. In auto mode a failure falls back to tc programs on each link;
// asked for explicitly, it is a coverage gap of both tc hooks on every link.
func (p *Probes) chooseTCTrace() int {
	switch {
	case p.opts.TCMode == TCTrace:
	case p.opts.TCMode == TCAuto && len(p.links) > tcPerLinkMax:
	default:
		return 0
	}
	err := p.attachTCTrace()
	if err == nil {
		p.tcTrace = true
		p.note("tc-ingress, tc-egress: counted host-wide at the netif_receive_skb and net_dev_queue tracepoints (%d links; tc programs on each link would take %d attachments, each tcx one waiting for an RCU grace period)", len(p.links), 2*len(p.links))
		return 2
	}
	if p.opts.TCMode == TCTrace {
		p.note("tc tracepoints: %v", err)
		p.tcTraceErr = err // every link's tc hooks are gaps (attachLink)
		return 0
	}
	p.note("tc tracepoints: %v; tc programs on each link instead", err)
	return 0
}

// attachTCTrace attaches both tracepoint programs, or neither: with one left attached, the
// tc programs of the fallback would count its point twice.
func (p *Probes) attachTCTrace() error {
	var objs struct {
		Rx *ebpf.Program `ebpf:"nettune_rx_trace"`
		Tx *ebpf.Program `ebpf:"nettune_tx_trace"`
	}
	if err := p.spec.LoadAndAssign(&objs, p.loadOpts(p.repl)); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	progs := []*ebpf.Program{objs.Rx, objs.Tx}
	var links []link.Link
	for _, prog := range progs {
		lk, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			for _, l := range links {
				l.Close()
			}
			for _, pr := range progs {
				pr.Close()
			}
			return fmt.Errorf("attach %s: %w", prog, err)
		}
		links = append(links, lk)
	}
	for _, pr := range progs {
		p.keep(pr)
	}
	for _, l := range links {
		p.keep(l)
	}
	return nil
}
