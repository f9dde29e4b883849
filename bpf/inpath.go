package bpf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
)

// watchedLink is one interface the in-path programs count on.
type watchedLink struct {
	t          *target
	name       string
	index      int
	kind       string // rtnetlink kind: veth, ... "" for physical devices
	gro        bool   // GRO on: a veth then already receives through NAPI
	rxq, txq   int
	info       countersLinkInfo // its slots, as registered in the links map
	registered bool             // in the links map: the programs count it
	tried      bool             // attaching it is done and merged into the probe set
	spanRx     uint32           // queue ranges of a reused slot, when larger than rxq, txq
	spanTx     uint32
	xdp        string // mode our XDP program runs in, "" when not attached
	tcIn, tcEg bool
	foreignXDP *model.ForeignProg

	// What attaching did, merged into the probe set in link order.
	attached int
	closers  []io.Closer
	notes    []string
	gaps     []model.Gap
	foreign  []model.ForeignProg
}

func (l *watchedLink) note(format string, args ...any) {
	l.notes = append(l.notes, fmt.Sprintf(format, args...))
}

// gap records that hook ("" = every hook) does not count on this link.
func (l *watchedLink) gap(hook string, reason model.GapReason, detail string) {
	l.gaps = append(l.gaps, model.Gap{Netns: l.t.inode, Link: l.name, Hook: hook, Reason: reason, Detail: detail})
}

// linkProgs are the XDP and tc programs attached to links: one copy for every link, or one
// per namespace where the kernel refuses XDP and tc programs their namespace (fixed_netns).
type linkProgs struct {
	XDP  *ebpf.Program `ebpf:"nettune_xdp"`
	TCIn *ebpf.Program `ebpf:"nettune_tc_in"`
	TCEg *ebpf.Program `ebpf:"nettune_tc_eg"`
}

// attachCounters creates the counter maps sized for the watched links, registers the links,
// loads each program once and attaches it to every link. It returns how many programs are
// attached; what could not be attached is a note and a coverage gap.
func (p *Probes) attachCounters() (int, error) {
	for _, t := range p.targets {
		if err := p.resolveLinks(t, nil); err != nil {
			p.gaps = append(p.gaps, model.Gap{Netns: t.inode, Reason: model.GapNotFound, Detail: err.Error()})
		}
		p.links = append(p.links, t.links...)
	}
	if len(p.links) == 0 {
		return 0, errors.New("no link to count on")
	}
	spec, err := loadCounters()
	if err != nil {
		return 0, err
	}
	var rx, tx uint32
	for i, l := range p.links {
		offset := uint32(1)
		if l.kind == "veth" {
			offset = 0
		}
		l.info = countersLinkInfo{RxBase: rx, RxQueues: uint32(l.rxq), TxBase: tx, TxQueues: uint32(l.txq),
			Slot: uint32(i), RxqOffset: offset}
		rx += uint32(l.rxq)
		tx += uint32(l.txq)
	}
	// Spare room for namespaces and links added later (AddTargets); a link that finds none
	// is a map-full gap.
	spare := uint32(max(minSpareLinks, len(p.links)/2))
	p.room = room{links: uint32(len(p.links)) + spare, rx: rx + 2*spare, tx: tx + 2*spare, nextRx: rx, nextTx: tx}
	p.uniq = p.uniqueIfindexes()
	for name, size := range map[string]uint32{countersMapInfos: p.room.links, countersMapLinks: p.room.links,
		countersMapByIfindex: byIfindexSize(p.uniq), countersMapXdpCounts: p.room.rx,
		countersMapTcInCounts: p.room.rx, countersMapXmitCounts: p.room.tx, countersMapTcEgCounts: p.room.links} {
		spec.Maps[name].MaxEntries = size
	}
	if err := spec.LoadAndAssign(&p.counters, p.loadOpts(nil)); err != nil {
		p.gapAll("", model.GapLoadFailed, fmt.Sprintf("create counter maps: %v", err))
		return 0, fmt.Errorf("create counter maps: %w", err)
	}
	m := &p.counters
	for _, c := range []*ebpf.Map{m.ByIfindex, m.Errors, m.Infos, m.Links, m.TcEgCounts, m.TcInCounts, m.XdpCounts, m.XmitCounts} {
		p.keep(c)
	}
	p.errMaps = append(p.errMaps, m.Errors)
	p.spec = spec
	p.repl = map[string]*ebpf.Map{
		countersMapByIfindex: m.ByIfindex, countersMapErrors: m.Errors, countersMapInfos: m.Infos, countersMapLinks: m.Links,
		countersMapTcEgCounts: m.TcEgCounts,
		countersMapTcInCounts: m.TcInCounts, countersMapXdpCounts: m.XdpCounts, countersMapXmitCounts: m.XmitCounts,
	}
	attached := p.chooseTCTrace()
	p.register(p.uniq)
	if err := p.attachXmit(spec, p.repl); err != nil {
		p.note("xmit: %v", err)
		p.gapAll(hookXmit, model.GapAttachFailed, err.Error())
	} else {
		p.xmit = true
		attached++
	}
	err = errors.New("per-namespace copies requested")
	if !p.opts.perNetns {
		p.shared, err = p.loadLinkProgs(spec, p.repl, 0)
	}
	if err != nil {
		// Kernels that refuse bpf_probe_read_kernel to XDP and tc programs (lockdown) get
		// one copy per namespace, with the namespace as a constant.
		p.note("xdp/tc: one program copy per namespace (the shared copy did not load: %v)", err)
	} else {
		p.keepProgs(p.shared)
	}
	return attached + p.attachTargets(p.targets), nil
}

// minSpareLinks is the least room for links added after Attach.
const minSpareLinks = 64

// room is the counter maps' capacity and how much of it is taken: slots are indexes into
// Probes.links, queues run from 0 to nextRx/nextTx.
type room struct {
	links, rx, tx  uint32
	nextRx, nextTx uint32
}

// attachTargets gives each target's registered links the XDP and tc programs, then merges
// what attaching did into the probe set. It returns how many programs it attached.
func (p *Probes) attachTargets(ts []*target) int {
	for _, t := range ts {
		if t.progs == nil {
			t.progs = p.shared
		}
		if t.progs == nil && len(t.links) > 0 {
			progs, err := p.loadLinkProgs(p.spec, p.repl, t.inode)
			if err != nil {
				p.note("netns %d: load xdp/tc programs: %v", t.inode, err)
				p.gapNetns(t, "", model.GapLoadFailed, err.Error())
				continue
			}
			t.progs = progs
			t.closers = append(t.closers, progs.XDP, progs.TCIn, progs.TCEg)
		}
		// Leftovers of a crashed nettune can only exist where clsact may be used.
		var err error
		if t.clsact, err = viewClsact(t, p.opts.TCMode != TCX); err != nil {
			p.note("netns %d: clsact: %v", t.inode, err)
		}
	}
	// One thread inside each namespace attaches its links one after another: XDP and tcx
	// resolve ifindexes in the caller's namespace, and each tcx attach and detach waits for
	// an RCU grace period while holding the RTNL lock, so threads attaching at once queue
	// on that lock (measured: the same wall time; docs/bpf.md).
	for _, t := range ts {
		if t.progs == nil {
			continue
		}
		err := netns.Do(t.ns, func() error {
			for _, l := range t.links {
				if l.registered && !l.tried {
					p.attachLink(l)
				}
			}
			return nil
		})
		if err != nil {
			p.note("netns %d: %v", t.inode, err)
			p.gapNetns(t, "", model.GapNotFound, err.Error())
		}
	}
	attached := 0
	for _, t := range ts {
		for _, l := range t.links {
			if l.tried {
				continue // merged when it was attached
			}
			l.tried = true
			attached += l.attached
			p.gaps = append(p.gaps, l.gaps...)
			p.foreign = append(p.foreign, l.foreign...)
			for _, msg := range l.notes {
				p.notes.add(p.label(l), msg)
			}
			if rank(l.xdp) > rank(p.xdpMode) {
				p.xdpMode = l.xdp
			}
		}
	}
	return attached
}

// maxByIfindex bounds the by_ifindex array (4 bytes per entry): ifindexes grow with every
// link ever created on a host, and links beyond the bound take the namespace path.
const maxByIfindex = 1 << 20

// uniqueIfindexes are the ifindexes exactly one watched link has (namespaces number their
// links from 1, so pods' interfaces share them).
func (p *Probes) uniqueIfindexes() map[int]*watchedLink {
	seen := make(map[int]int, len(p.links))
	for _, l := range p.links {
		seen[l.index]++
	}
	out := make(map[int]*watchedLink, len(p.links))
	for _, l := range p.links {
		if seen[l.index] == 1 && l.index < maxByIfindex {
			out[l.index] = l
		}
	}
	return out
}

func byIfindexSize(uniq map[int]*watchedLink) uint32 {
	n := 1
	for i := range uniq {
		n = max(n, i+1)
	}
	return uint32(n)
}

// register writes every link's slots (infos), its identity (links) and, for a unique
// ifindex, the shortcut (by_ifindex). A link whose entries cannot be written is not counted.
func (p *Probes) register(uniq map[int]*watchedLink) {
	m := &p.counters
	n := len(p.links)
	slots, infos := make([]uint32, n), make([]countersLinkInfo, n)
	keys := make([]countersLinkKey, n)
	var ifxs, plus1 []uint32
	for i, l := range p.links {
		l.info.RxByTc = p.rxByTC(l)
		slots[i], infos[i] = uint32(i), l.info
		keys[i] = countersLinkKey{Netns: uint32(l.t.inode), Ifindex: uint32(l.index)}
		l.registered = true
		if uniq[l.index] == l {
			ifxs, plus1 = append(ifxs, uint32(l.index)), append(plus1, uint32(i)+1)
		}
	}
	_, err1 := m.Infos.BatchUpdate(slots, infos, nil)
	_, err2 := m.Links.BatchUpdate(keys, slots, nil)
	var err3 error
	if len(ifxs) > 0 {
		_, err3 = m.ByIfindex.BatchUpdate(ifxs, plus1, nil)
	}
	if err1 == nil && err2 == nil && err3 == nil {
		return
	}
	// Kernels without batch operations (before 5.6), or some entry failed: one at a time.
	for i, l := range p.links {
		err := m.Infos.Put(&slots[i], &infos[i])
		if err == nil {
			err = m.Links.Put(&keys[i], &slots[i])
		}
		if err == nil && uniq[l.index] == l {
			err = m.ByIfindex.Put(uint32(l.index), uint32(i)+1)
		}
		if err != nil {
			l.registered = false
			l.note("not counted: register in the link maps: %v", err)
			l.gap("", model.GapMapFull, err.Error())
		}
	}
}

func (p *Probes) loadLinkProgs(spec *ebpf.CollectionSpec, repl map[string]*ebpf.Map, fixedNetns uint64) (*linkProgs, error) {
	s := spec
	if fixedNetns != 0 {
		s = spec.Copy()
		if err := s.Variables[countersVarFixedNetns].Set(uint32(fixedNetns)); err != nil {
			return nil, err
		}
	}
	var progs linkProgs
	if err := s.LoadAndAssign(&progs, p.loadOpts(repl)); err != nil {
		return nil, err
	}
	return &progs, nil
}

func (p *Probes) keepProgs(l *linkProgs) {
	p.keep(l.XDP)
	p.keep(l.TCIn)
	p.keep(l.TCEg)
}

// resolveLinks finds a target's links with what the XDP mode choice and foreign-program
// detection need. A link asked for by name that does not exist is a coverage gap.
// With only (SyncLinks), it picks just the up, non-loopback links of those names.
func (p *Probes) resolveLinks(t *target, only map[string]bool) error {
	return netns.Do(t.ns, func() error {
		all, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list links: %w", err)
		}
		t.names = make(map[int]string, len(all))
		byName := make(map[string]netlink.Link, len(all))
		for _, l := range all {
			a := l.Attrs()
			t.names[a.Index] = a.Name
			byName[a.Name] = l
		}
		var pick []netlink.Link
		seen := map[string]bool{}
		if t.all {
			for _, l := range all {
				a := l.Attrs()
				if a.Flags&net.FlagUp != 0 && a.Flags&net.FlagLoopback == 0 && (only == nil || only[a.Name]) {
					pick = append(pick, l)
					seen[a.Name] = true
				}
			}
		}
		for _, name := range t.asked {
			if only != nil {
				break
			}
			l, ok := byName[name]
			switch {
			case seen[name]:
			case !ok:
				p.gaps = append(p.gaps, model.Gap{Netns: t.inode, Link: name, Reason: model.GapNotFound,
					Detail: fmt.Sprintf("link %s not found in netns %q", name, t.label())})
			default:
				pick = append(pick, l)
			}
			seen[name] = true
		}
		if len(pick) == 0 && t.all && only == nil {
			p.note("netns %q: no up non-loopback link", t.label())
		}
		var gro *groReader
		for _, l := range pick {
			a := l.Attrs()
			w := &watchedLink{t: t, name: a.Name, index: a.Index, kind: linkKind(l),
				rxq: max(a.NumRxQueues, 1), txq: max(a.NumTxQueues, 1)}
			// Only auto's XDP choice depends on GRO, and only on veths. Unknown reads as off.
			if p.opts.XDPMode == XDPAuto && w.kind == "veth" {
				if gro == nil {
					if gro, err = p.groReader(a.Name); err != nil {
						p.note("netns %q: gro unknown, taken as off: %v", t.label(), err)
						gro = &groReader{fd: -1}
					}
					defer gro.Close()
				}
				if gro.fd >= 0 {
					w.gro, err = gro.on(a.Name)
					if err != nil {
						w.note("gro unknown, taken as off: %v", err)
					}
				}
			}
			if x := a.Xdp; x != nil && x.Attached && x.ProgId != 0 {
				w.foreignXDP = &model.ForeignProg{Netns: t.inode, Link: a.Name, Hook: hookXDP, ID: x.ProgId,
					Name: progName(x.ProgId), Mode: xdpAttachMode(x.AttachMode)}
			}
			t.links = append(t.links, w)
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

// attachXmit attaches the one xmit tracepoint program: it sees every device and counts
// those in the links map.
func (p *Probes) attachXmit(spec *ebpf.CollectionSpec, repl map[string]*ebpf.Map) error {
	var objs struct {
		Prog *ebpf.Program `ebpf:"nettune_xmit"`
	}
	if err := spec.LoadAndAssign(&objs, p.loadOpts(repl)); err != nil {
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

// attachLink attaches the XDP and tc programs to one link, from a thread inside its
// namespace, and records the outcome on the link.
func (p *Probes) attachLink(l *watchedLink) {
	if p.attachXDP(l.t.progs.XDP, l) {
		l.attached++
	}
	for _, h := range []struct {
		prog *ebpf.Program
		hook string
		done *bool
	}{{l.t.progs.TCIn, hookIngress, &l.tcIn}, {l.t.progs.TCEg, hookEgress, &l.tcEg}} {
		p.foreignTC(l, h.hook)
		if p.tcTrace && (h.hook == hookEgress || l.info.RxByTc == 0) {
			*h.done = true // the tracepoints count it
			continue
		}
		if p.tcTraceErr != nil {
			l.gap(h.hook, model.GapAttachFailed, "tracepoint: "+p.tcTraceErr.Error())
			continue
		}
		if err := p.attachTC(h.prog, l, h.hook); err != nil {
			l.note("%s: %v", h.hook, err)
			l.gap(h.hook, model.GapAttachFailed, err.Error())
			continue
		}
		*h.done = true
		l.attached++
	}
}

const (
	hookXDP     = "xdp"
	hookIngress = "tc-ingress"
	hookEgress  = "tc-egress"
	hookXmit    = "xmit"
)

// attachXDP attaches in the mode the options and the link call for, never over a program
// that is already there.
func (p *Probes) attachXDP(prog *ebpf.Program, l *watchedLink) bool {
	mode, why := chooseXDP(p.opts.XDPMode, l)
	if f := l.foreignXDP; f != nil {
		l.foreign = append(l.foreign, *f)
		l.note("xdp skipped: foreign program %d %q (%s) attached; counting at tc ingress", f.ID, f.Name, f.Mode)
		if mode != XDPOff {
			l.gap(hookXDP, model.GapForeign, fmt.Sprintf("program %d %q (%s)", f.ID, f.Name, f.Mode))
		}
		return false
	}
	if mode == XDPOff {
		l.note("xdp off: %s", why)
		return false
	}
	flags := link.XDPGenericMode
	if mode == XDPNative {
		flags = link.XDPDriverMode
	}
	lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.index, Flags: flags})
	if err != nil {
		l.note("xdp %s: %v", mode, err)
		l.gap(hookXDP, model.GapAttachFailed, fmt.Sprintf("%s: %v", mode, err))
		return false
	}
	l.closers = append(l.closers, lk)
	l.xdp = mode
	l.note("xdp %s: %s", mode, why)
	if l.vethGenericXDP() {
		l.note("generic xdp on veth sees the sender's TX queue shifted by one: xdp counted per link only")
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
			l.closers = append(l.closers, lk)
			return nil
		}
		if p.opts.TCMode == TCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("tcx: %w", err)
		}
		l.note("%s: tcx not supported, using clsact", hook)
	}
	f, err := addClsact(l.t.ns, l.index, prog, hook)
	if err != nil {
		return fmt.Errorf("clsact: %w", err)
	}
	l.closers = append(l.closers, f)
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
			l.foreign = append(l.foreign, model.ForeignProg{Netns: l.t.inode, Link: l.name, Hook: hook,
				ID: uint32(ap.ID), Name: progName(uint32(ap.ID))})
		}
	}
	for _, f := range l.t.clsact.filters(l.index, hook) {
		if !ours(f.name) {
			l.foreign = append(l.foreign, model.ForeignProg{Netns: l.t.inode, Link: l.name, Hook: hook, ID: f.id, Name: f.name})
		}
	}
}

// gapAll records that hook ("" = every hook) counts on no link of any target.
func (p *Probes) gapAll(hook string, reason model.GapReason, detail string) {
	for _, t := range p.targets {
		p.gapNetns(t, hook, reason, detail)
	}
}

// gapNetns records that hook ("" = every hook) counts on no link of namespace t.
func (p *Probes) gapNetns(t *target, hook string, reason model.GapReason, detail string) {
	if len(t.links) == 0 {
		return
	}
	p.gaps = append(p.gaps, model.Gap{Netns: t.inode, Hook: hook, Reason: reason, Detail: detail})
}
