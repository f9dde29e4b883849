package bpf

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
)

// watchedLink is one interface the in-path programs count on.
type watchedLink struct {
	name       string
	index      int
	kind       string // rtnetlink kind: veth, ... "" for physical devices
	gro        bool   // GRO on: a veth then already receives through NAPI
	rxq, txq   int
	slot, base int
	xdp        string // mode our XDP program runs in, "" when not attached
	tcIn, tcEg bool
	foreignXDP *model.ForeignProg
}

// attachCounters loads the counter maps, the xmit tracepoint and per-link XDP and tc
// programs. It returns how many programs are attached; a link that cannot be resolved is
// an error, a program that cannot be attached is a note.
func (p *Probes) attachCounters() (int, error) {
	if err := p.resolveLinks(); err != nil {
		return 0, err
	}
	spec, err := loadCounters()
	if err != nil {
		return 0, err
	}
	n := uint32(len(p.links))
	for name, size := range map[string]uint32{
		countersMapXdpCounts: n * uint32(p.stride), countersMapTcInCounts: n * uint32(p.stride),
		countersMapXmitCounts: n * uint32(p.stride), countersMapTcEgCounts: n,
	} {
		spec.Maps[name].MaxEntries = size
	}
	if err := spec.LoadAndAssign(&p.counters, nil); err != nil {
		return 0, fmt.Errorf("create counter maps: %w", err)
	}
	m := &p.counters
	for _, c := range []*ebpf.Map{m.Errors, m.TcEgCounts, m.TcInCounts, m.Watched, m.XdpCounts, m.XmitCounts} {
		p.keep(c)
	}
	p.errMaps = append(p.errMaps, m.Errors)
	repl := map[string]*ebpf.Map{
		countersMapErrors: m.Errors, countersMapTcEgCounts: m.TcEgCounts, countersMapTcInCounts: m.TcInCounts,
		countersMapWatched: m.Watched, countersMapXdpCounts: m.XdpCounts, countersMapXmitCounts: m.XmitCounts,
	}

	if p.opts.TCMode != TCX {
		if err := cleanClsact(p.opts.Netns, p.links); err != nil {
			p.note("clsact leftovers: %v", err)
		}
	}

	attached := 0
	if err := p.attachXmit(spec, repl); err != nil {
		p.note("xmit: %v", err)
	} else {
		attached++
	}
	for _, l := range p.links {
		attached += p.attachLink(spec, repl, l)
	}
	return attached, nil
}

// resolveLinks finds the watched links in the namespace, with what the XDP mode choice
// and foreign-program detection need.
func (p *Probes) resolveLinks() error {
	return netns.Do(p.opts.Netns, func() error {
		all, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		p.names = make(map[int]string, len(all))
		byName := make(map[string]netlink.Link, len(all))
		for _, l := range all {
			a := l.Attrs()
			p.names[a.Index] = a.Name
			byName[a.Name] = l
		}
		var pick []netlink.Link
		if len(p.opts.Links) == 0 {
			for _, l := range all {
				a := l.Attrs()
				if a.Flags&net.FlagUp != 0 && a.Flags&net.FlagLoopback == 0 {
					pick = append(pick, l)
				}
			}
		} else {
			for _, name := range p.opts.Links {
				l, ok := byName[name]
				if !ok {
					return fmt.Errorf("link %s not found in netns %q", name, p.opts.Netns)
				}
				pick = append(pick, l)
			}
		}
		if len(pick) == 0 {
			return fmt.Errorf("no up non-loopback link in netns %q", p.opts.Netns)
		}
		et, _ := ethtool.NewEthtool()
		if et != nil {
			defer et.Close()
		}
		for i, l := range pick {
			a := l.Attrs()
			w := &watchedLink{name: a.Name, index: a.Index, kind: linkKind(l),
				rxq: max(a.NumRxQueues, 1), txq: max(a.NumTxQueues, 1), slot: i}
			if et != nil && w.kind == "veth" {
				// An empty map (ethtool v0.7.0 can return one without error) reads as GRO off.
				f, err := et.Features(a.Name)
				w.gro = err == nil && f["rx-gro"]
			}
			if x := a.Xdp; x != nil && x.Attached && x.ProgId != 0 {
				w.foreignXDP = &model.ForeignProg{Link: a.Name, Hook: "xdp", ID: x.ProgId,
					Name: progName(x.ProgId), Mode: xdpAttachMode(x.AttachMode)}
			}
			p.stride = max(p.stride, w.rxq, w.txq)
			p.links = append(p.links, w)
		}
		for _, w := range p.links {
			w.base = w.slot * p.stride
		}
		return nil
	})
}

func linkKind(l netlink.Link) string {
	if t := l.Type(); t != "device" {
		return t
	}
	return ""
}

func xdpAttachMode(m uint32) string {
	switch m {
	case 1:
		return "native"
	case 2:
		return "generic"
	case 3:
		return "offload"
	case 4:
		return "multi"
	}
	return ""
}

// progName names a program by ID, or "" when it is gone or unreadable.
func progName(id uint32) string {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return ""
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

func (p *Probes) attachXmit(spec *ebpf.CollectionSpec, repl map[string]*ebpf.Map) error {
	for _, l := range p.links {
		k := countersWatchKey{Netns: uint32(p.nsInode), Ifindex: uint32(l.index)}
		v := countersWatch{Base: uint32(l.base), Queues: uint32(l.txq)}
		if err := p.counters.Watched.Put(&k, &v); err != nil {
			return fmt.Errorf("watch %s: %w", l.name, err)
		}
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"nettune_xmit"`
	}
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	p.keep(objs.Prog)
	lk, err := link.AttachTracing(link.TracingOptions{Program: objs.Prog})
	if err != nil {
		return fmt.Errorf("attach tp_btf/net_dev_start_xmit: %w", err)
	}
	p.keep(lk)
	return nil
}

type linkProgs struct {
	XDP  *ebpf.Program `ebpf:"nettune_xdp"`
	TCIn *ebpf.Program `ebpf:"nettune_tc_in"`
	TCEg *ebpf.Program `ebpf:"nettune_tc_eg"`
}

// attachLink loads this link's copies of the XDP and tc programs (their constants select
// the link's counter slots) and attaches them; it returns how many are attached.
func (p *Probes) attachLink(spec *ebpf.CollectionSpec, repl map[string]*ebpf.Map, l *watchedLink) int {
	s := spec.Copy()
	offset := uint32(1)
	if l.kind == "veth" {
		offset = 0
	}
	for name, v := range map[string]uint32{
		countersVarLinkBase: uint32(l.base), countersVarLinkQueues: uint32(l.rxq),
		countersVarLinkSlot: uint32(l.slot), countersVarLinkRxqOffset: offset,
	} {
		if err := s.Variables[name].Set(v); err != nil {
			p.note("%s: set %s: %v", l.name, name, err)
			return 0
		}
	}
	var progs linkProgs
	if err := s.LoadAndAssign(&progs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		p.note("%s: load programs: %v", l.name, err)
		return 0
	}
	p.keep(progs.XDP)
	p.keep(progs.TCIn)
	p.keep(progs.TCEg)

	n := 0
	err := netns.Do(p.opts.Netns, func() error {
		if p.attachXDP(progs.XDP, l) {
			n++
		}
		for _, h := range []struct {
			prog *ebpf.Program
			hook string
			done *bool
		}{{progs.TCIn, hookIngress, &l.tcIn}, {progs.TCEg, hookEgress, &l.tcEg}} {
			p.foreignTC(l, h.hook)
			if err := p.attachTC(h.prog, l, h.hook); err != nil {
				p.note("%s: %s: %v", l.name, h.hook, err)
				continue
			}
			*h.done = true
			n++
		}
		return nil
	})
	if err != nil {
		p.note("%s: %v", l.name, err)
	}
	return n
}

const (
	hookIngress = "tc-ingress"
	hookEgress  = "tc-egress"
)

// attachXDP attaches in the mode the options and the link call for, never over a program
// that is already there.
func (p *Probes) attachXDP(prog *ebpf.Program, l *watchedLink) bool {
	if l.foreignXDP != nil {
		p.foreign = append(p.foreign, *l.foreignXDP)
		p.note("%s: xdp skipped: foreign program %d %q (%s) attached; counting at tc ingress",
			l.name, l.foreignXDP.ID, l.foreignXDP.Name, l.foreignXDP.Mode)
		return false
	}
	mode, why := chooseXDP(p.opts.XDPMode, l)
	if mode == XDPOff {
		p.note("%s: xdp off: %s", l.name, why)
		return false
	}
	flags := link.XDPGenericMode
	if mode == XDPNative {
		flags = link.XDPDriverMode
	}
	lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.index, Flags: flags})
	if err != nil {
		p.note("%s: xdp %s: %v", l.name, mode, err)
		return false
	}
	p.keep(lk)
	l.xdp = mode
	p.note("%s: xdp %s: %s", l.name, mode, why)
	if l.vethGenericXDP() {
		p.note("%s: generic xdp on veth sees the sender's TX queue shifted by one: xdp counted per link only", l.name)
	}
	if rank(mode) > rank(p.xdpMode) {
		p.xdpMode = mode
	}
	return true
}

// vethGenericXDP: veth leaves the sender's TX queue in queue_mapping, which generic XDP
// reads as "recorded RX queue + 1", so its rx_queue_index is off by one (0 and 1 merge).
func (l *watchedLink) vethGenericXDP() bool { return l.kind == "veth" && l.xdp == XDPGeneric }

func rank(mode string) int { return slices.Index([]string{XDPOff, XDPGeneric, XDPNative}, mode) }

// chooseXDP decides the XDP mode for a link; docs/bpf.md explains the trade-off.
func chooseXDP(opt string, l *watchedLink) (mode, why string) {
	switch opt {
	case XDPOff:
		return XDPOff, "disabled by option"
	case XDPGeneric:
		return XDPGeneric, "generic requested"
	case XDPNative:
		return XDPNative, "native requested"
	}
	// Generic XDP runs in __netif_receive_skb_core, after the per-CPU backlog and right next to
	// tc ingress: it measures nothing tc ingress does not, and it linearizes skbs (measurable
	// throughput cost). auto therefore uses native XDP only where it changes nothing and
	// otherwise leaves XDP off; per-queue receive counts then come from tc ingress.
	switch {
	case l.kind == "veth" && l.gro:
		return XDPNative, "auto: veth with GRO on already receives through NAPI, native XDP keeps that path"
	case l.kind == "veth":
		return XDPOff, "auto: native XDP would switch this veth to its NAPI receive path and generic XDP adds cost without a new vantage point; per-queue counts come from tc ingress"
	case l.kind == "":
		return XDPOff, "auto: physical NIC, native XDP may make the driver rebuild its rings; per-queue counts come from tc ingress (use --xdp native to count before the stack)"
	}
	return XDPOff, "auto: " + l.kind + " link, per-queue counts come from tc ingress"
}

// attachTC attaches with tcx, or with clsact + cls_bpf where tcx is missing (or asked for).
func (p *Probes) attachTC(prog *ebpf.Program, l *watchedLink, hook string) error {
	if p.opts.TCMode != TCClsact {
		at := ebpf.AttachTCXIngress
		if hook == hookEgress {
			at = ebpf.AttachTCXEgress
		}
		// Head: count every packet arriving at the hook, before other programs' verdicts.
		lk, err := link.AttachTCX(link.TCXOptions{Interface: l.index, Program: prog, Attach: at, Anchor: link.Head()})
		if err == nil {
			p.keep(lk)
			return nil
		}
		if p.opts.TCMode == TCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("tcx: %w", err)
		}
		p.note("%s: %s: tcx not supported, using clsact", l.name, hook)
	}
	f, err := addClsact(p.opts.Netns, l.index, prog, hook)
	if err != nil {
		return fmt.Errorf("clsact: %w", err)
	}
	p.keep(f)
	return nil
}

// foreignTC records tcx programs and cls_bpf filters someone else attached to the hook: we
// attach alongside them, and a report should know they are there.
func (p *Probes) foreignTC(l *watchedLink, hook string) {
	at := ebpf.AttachTCXIngress
	if hook == hookEgress {
		at = ebpf.AttachTCXEgress
	}
	if res, err := link.QueryPrograms(link.QueryOptions{Target: l.index, Attach: at}); err == nil {
		for _, ap := range res.Programs {
			p.foreign = append(p.foreign, model.ForeignProg{Link: l.name, Hook: hook,
				ID: uint32(ap.ID), Name: progName(uint32(ap.ID))})
		}
	}
	for _, f := range listClsact(p.opts.Netns, l.index, hook) {
		if !ours(f.name) {
			p.foreign = append(p.foreign, model.ForeignProg{Link: l.name, Hook: hook, ID: f.id, Name: f.name})
		}
	}
}

// linkNames maps ifindex to name for the links of namespace ns.
func linkNames(ns string) (map[int]string, error) {
	names := map[int]string{}
	err := netns.Do(ns, func() error {
		all, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		for _, l := range all {
			names[l.Attrs().Index] = l.Attrs().Name
		}
		return nil
	})
	return names, err
}
