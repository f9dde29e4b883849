package bpf

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/nettune/nettune/model"
)

// AddTargets watches the links of namespaces that appeared after Attach (a new pod) with the
// programs already loaded; a namespace already watched (same inode) is left as it is. The
// new links count from now on. A link that finds no room in the counter maps (sized at
// Attach with spare room) or that cannot be attached is a coverage gap, as at Attach. A
// namespace that cannot be opened is skipped. It returns the inodes it added.
func (p *Probes) AddTargets(ts []Target) ([]uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var added []*target
	for _, tg := range ts {
		ino, err := netnsInode(tg.Netns)
		if err != nil {
			continue // gone already; the caller's coverage says what is not watched
		}
		if p.byInode[ino] != nil {
			continue
		}
		t := &target{ns: tg.Netns, name: tg.Name, inode: ino, all: len(tg.Links) == 0, asked: tg.Links}
		p.byInode[ino] = t
		p.targets = append(p.targets, t)
		added = append(added, t)
	}
	inodes := make([]uint64, 0, len(added))
	for _, t := range added {
		inodes = append(inodes, t.inode)
	}
	if len(added) == 0 || !p.opts.InPath {
		return inodes, nil
	}
	for _, t := range added {
		if err := p.resolveLinks(t, nil); err != nil {
			p.gaps = append(p.gaps, model.Gap{Netns: t.inode, Reason: model.GapNotFound, Detail: err.Error()})
		}
		if p.spec == nil {
			p.gapNetns(t, "", model.GapLoadFailed, "the counter programs did not load at attach")
			continue
		}
		for _, l := range t.links {
			p.registerLate(l)
		}
	}
	if p.spec != nil {
		p.attachTargets(added)
	}
	p.Notes = p.notes.list()
	return inodes, nil
}

// registerLate gives a link added after Attach a slot (a removed link's when its queues
// fit, else fresh room; the link takes its place in Probes.links either way) and registers it in the hash path only: its ifindex may be one a
// watched link of another namespace has in by_ifindex, which then moves to the hash path
// too, before any program runs on the new link.
func (p *Probes) registerLate(l *watchedLink) {
	slot, reused := p.takeSlot(l)
	if slot < 0 {
		l.note("not counted: no room left in the counter maps")
		l.gap("", model.GapMapFull, "no room left in the counter maps for links added after attach")
		return
	}
	m := &p.counters
	if u := p.uniq[l.index]; u != nil {
		if err := m.ByIfindex.Put(uint32(l.index), uint32(0)); err != nil {
			l.note("not counted: its ifindex is another link's shortcut: %v", err)
			l.gap("", model.GapMapFull, err.Error())
			p.free = append(p.free, slot)
			return
		}
		delete(p.uniq, l.index)
	}
	l.info.RxByTc = p.rxByTC(l)
	err := p.zeroSlot(l, reused)
	if err == nil {
		err = m.Infos.Put(uint32(slot), &l.info)
	}
	if err == nil {
		key := countersLinkKey{Netns: uint32(l.t.inode), Ifindex: uint32(l.index)}
		err = m.Links.Put(&key, uint32(slot))
	}
	if err != nil {
		l.note("not counted: register in the link maps: %v", err)
		l.gap("", model.GapMapFull, err.Error())
		p.free = append(p.free, slot)
		return
	}
	l.registered = true
}

// takeSlot finds l a slot and queue ranges and sets l.info; -1 when there is no room.
func (p *Probes) takeSlot(l *watchedLink) (slot int, reused bool) {
	offset := uint32(1)
	if l.kind == "veth" {
		offset = 0
	}
	for i, s := range p.free {
		old := p.links[s]
		// A slot keeps the queue ranges it was first given, so a later reuse sees all of them.
		spanRx, spanTx := max(old.info.RxQueues, old.spanRx), max(old.info.TxQueues, old.spanTx)
		if spanRx >= uint32(l.rxq) && spanTx >= uint32(l.txq) {
			p.free = slices.Delete(p.free, i, i+1)
			l.info = countersLinkInfo{RxBase: old.info.RxBase, RxQueues: uint32(l.rxq), TxBase: old.info.TxBase,
				TxQueues: uint32(l.txq), Slot: uint32(s), RxqOffset: offset}
			l.spanRx, l.spanTx = spanRx, spanTx
			p.links[s] = l
			return s, true
		}
	}
	r := &p.room
	if uint32(len(p.links)) >= r.links || r.nextRx+uint32(l.rxq) > r.rx || r.nextTx+uint32(l.txq) > r.tx {
		return -1, false
	}
	l.info = countersLinkInfo{RxBase: r.nextRx, RxQueues: uint32(l.rxq), TxBase: r.nextTx, TxQueues: uint32(l.txq),
		Slot: uint32(len(p.links)), RxqOffset: offset}
	r.nextRx += uint32(l.rxq)
	r.nextTx += uint32(l.txq)
	p.links = append(p.links, l)
	return len(p.links) - 1, false
}

// zeroSlot clears the counters a removed link left in a reused slot, so the new link's
// counts start at zero like every other's.
func (p *Probes) zeroSlot(l *watchedLink, reused bool) error {
	if !reused {
		return nil
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	zero := make([]countersCounter, ncpu)
	m := &p.counters
	for _, r := range []struct {
		m     *ebpf.Map
		base  uint32
		count uint32
	}{
		{m.XdpCounts, l.info.RxBase, max(l.info.RxQueues, l.spanRx)},
		{m.TcInCounts, l.info.RxBase, max(l.info.RxQueues, l.spanRx)},
		{m.XmitCounts, l.info.TxBase, max(l.info.TxQueues, l.spanTx)},
		{m.TcEgCounts, l.info.Slot, 1},
	} {
		for k := r.base; k < r.base+r.count; k++ {
			if err := r.m.Put(k, zero); err != nil {
				return fmt.Errorf("clear counters: %w", err)
			}
		}
	}
	return nil
}

// RemoveTargets stops watching namespaces that no longer exist (a deleted pod): their
// links' bpf_link file descriptors (and clsact filters, program copies) are closed, their
// map entries removed so that a new namespace given the same inode starts clean, and their
// slots freed for links added later. Their coverage and foreign programs leave the
// snapshot. Inodes not watched are ignored.
func (p *Probes) RemoveTargets(inodes []uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	var errs []error
	gone := map[uint64]bool{}
	for _, ino := range inodes {
		t := p.byInode[ino]
		if t == nil {
			continue
		}
		gone[ino] = true
		for _, l := range t.links {
			errs = append(errs, p.unregister(l))
		}
		// The namespace is gone, so its filters cannot be deleted (they went with it): only
		// the descriptors matter, and errors of closing them say nothing useful.
		_ = t.close()
		delete(p.byInode, ino)
	}
	if len(gone) == 0 {
		return errors.Join(errs...)
	}
	p.targets = slices.DeleteFunc(p.targets, func(t *target) bool { return gone[t.inode] })
	p.gaps = slices.DeleteFunc(p.gaps, func(g model.Gap) bool { return gone[g.Netns] })
	p.foreign = slices.DeleteFunc(p.foreign, func(f model.ForeignProg) bool { return gone[f.Netns] })
	return errors.Join(errs...)
}

// unregister takes a link out of the maps, so that no program counts it and a new link
// with its (namespace, ifindex) starts clean, and frees its slot.
func (p *Probes) unregister(l *watchedLink) error {
	if !l.registered {
		return nil
	}
	var errs []error
	key := countersLinkKey{Netns: uint32(l.t.inode), Ifindex: uint32(l.index)}
	if err := p.counters.Links.Delete(&key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("unregister %s: %w", p.label(l), err))
	}
	if p.uniq[l.index] == l {
		if err := p.counters.ByIfindex.Put(uint32(l.index), uint32(0)); err != nil {
			errs = append(errs, fmt.Errorf("unregister %s: %w", p.label(l), err))
		}
		delete(p.uniq, l.index)
	}
	l.registered = false
	p.free = append(p.free, int(l.info.Slot))
	return errors.Join(errs...)
}

// LinkRef is a link as a link dump of its namespace names it.
type LinkRef struct {
	Index int
	Name  string
}

// SyncLinks follows the links of a watched namespace that was asked for with every link
// (Target.Links empty), given the links it has now (present, from a dump the caller made
// in it): a watched link no longer present, by ifindex and name (a deleted pod's host-side
// veth), is detached, its bpf_link descriptors closed and its slot freed; a link never seen
// before is looked up and, when up and not loopback, attached: it counts from now on. A link
// that was down when first seen and came up later is not picked up. Namespaces not watched
// or asked for by link names are left alone.
func (p *Probes) SyncLinks(ino uint64, present []LinkRef) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	t := p.byInode[ino]
	if t == nil || !t.all || !p.opts.InPath || p.spec == nil {
		return nil
	}
	now := make(map[LinkRef]bool, len(present))
	for _, r := range present {
		now[r] = true
	}
	var errs []error
	gone := map[string]bool{}
	t.links = slices.DeleteFunc(t.links, func(l *watchedLink) bool {
		if now[LinkRef{l.index, l.name}] {
			return false
		}
		errs = append(errs, p.unregister(l), closeReverse(l.closers))
		l.closers = nil
		gone[l.name] = true
		return true
	})
	if len(gone) > 0 {
		p.gaps = slices.DeleteFunc(p.gaps, func(g model.Gap) bool { return g.Netns == ino && gone[g.Link] })
		p.foreign = slices.DeleteFunc(p.foreign, func(f model.ForeignProg) bool { return f.Netns == ino && gone[f.Link] })
	}
	fresh := map[string]bool{}
	for _, r := range present {
		if t.names[r.Index] != r.Name {
			fresh[r.Name] = true
		}
	}
	if len(fresh) == 0 {
		return errors.Join(errs...)
	}
	known := len(t.links)
	if err := p.resolveLinks(t, fresh); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range t.links[known:] {
		p.registerLate(l)
	}
	p.attachTargets([]*target{t})
	p.Notes = p.notes.list()
	return errors.Join(errs...)
}

// close detaches the target's links and closes its own program copy.
func (t *target) close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, closeReverse(l.closers))
		l.closers = nil
	}
	errs = append(errs, closeReverse(t.closers))
	t.closers = nil
	return errors.Join(errs...)
}

func closeReverse(cs []io.Closer) error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
