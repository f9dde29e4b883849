package bpf

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/nettune/nettune/model"
)

// ErrClosed is returned by Snapshot and Drops after Close.
var ErrClosed = errors.New("probes closed")

// Snapshot returns the cumulative counts since Attach; the collector diffs two snapshots
// (model.Diff). Per-CPU values are summed.
func (p *Probes) Snapshot() (*model.InPath, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	out := &model.InPath{XDPMode: p.xdpMode, Note: strings.Join(p.Notes, "; "),
		Points: []model.PointCount{}, Drops: []model.DropCount{}, Foreign: p.foreign}
	if len(p.targets) == 1 {
		out.Netns = p.targets[0].inode
	}
	if p.opts.InPath {
		out.Coverage = p.coverage()
	}
	if p.counters.XdpCounts != nil {
		pts, err := p.points()
		if err != nil {
			return nil, err
		}
		out.Points = pts
	}
	if p.dropsMap != nil {
		d, err := p.drops()
		if err != nil {
			return nil, err
		}
		out.Drops = d
	}
	for _, m := range p.errMaps {
		var vals []uint64
		if err := m.Lookup(uint32(0), &vals); err != nil {
			return nil, fmt.Errorf("read map errors: %w", err)
		}
		out.MapErrors += sum(vals)
	}
	return out, nil
}

// Drops returns the cumulative drop counts since Attach, for a live view.
func (p *Probes) Drops() ([]model.DropCount, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if p.dropsMap == nil {
		return nil, errors.New("drops not attached")
	}
	return p.drops()
}

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

// readCounters sums a per-CPU counter array. One batch lookup reads every slot, where
// iterating costs two system calls per slot (hundreds per snapshot with many links).
// Kernels without batch operations on arrays (before 5.6) iterate.
func readCounters(m *ebpf.Map) ([]countersCounter, error) {
	n := int(m.MaxEntries())
	out := make([]countersCounter, n)
	keys := make([]uint32, n)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	vals := make([]countersCounter, n*ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := m.BatchLookup(&cursor, keys, vals, nil)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil // the end of the array
	}
	switch {
	case errors.Is(err, ebpf.ErrNotSupported):
		return iterateCounters(m, out)
	case err != nil:
		return nil, fmt.Errorf("read counters: %w", err)
	case got != n:
		return nil, fmt.Errorf("read counters: %d of %d slots", got, n)
	}
	for i, k := range keys {
		for _, v := range vals[i*ncpu : (i+1)*ncpu] {
			out[k].Packets += v.Packets
			out[k].Bytes += v.Bytes
		}
	}
	return out, nil
}

func iterateCounters(m *ebpf.Map, out []countersCounter) ([]countersCounter, error) {
	var (
		key  uint32
		vals []countersCounter
	)
	it := m.Iterate()
	for it.Next(&key, &vals) {
		for _, v := range vals {
			out[key].Packets += v.Packets
			out[key].Bytes += v.Bytes
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	return out, nil
}

func (p *Probes) points() ([]model.PointCount, error) {
	var out []model.PointCount
	for _, src := range []struct {
		m     *ebpf.Map
		point model.Point
	}{
		{p.counters.XdpCounts, model.PointXDP}, {p.counters.TcInCounts, model.PointTCIngress},
		{p.counters.TcEgCounts, model.PointTCEgress}, {p.counters.XmitCounts, model.PointXmit},
	} {
		c, err := readCounters(src.m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.point, err)
		}
		for _, l := range p.links {
			if !l.registered {
				continue
			}
			add := func(queue int, n countersCounter) {
				out = append(out, model.PointCount{Point: src.point, Netns: l.t.inode, Ifindex: l.index, Link: l.name,
					Queue: queue, Packets: n.Packets, Bytes: n.Bytes})
			}
			perQueue := func(base uint32, queues int) {
				for q := range queues {
					add(q, c[int(base)+q])
				}
			}
			switch src.point {
			case model.PointXDP:
				if l.vethGenericXDP() {
					var sum countersCounter
					for q := range l.rxq {
						sum.Packets += c[int(l.info.RxBase)+q].Packets
						sum.Bytes += c[int(l.info.RxBase)+q].Bytes
					}
					add(-1, sum)
				} else if l.xdp != "" {
					perQueue(l.info.RxBase, l.rxq)
				}
			case model.PointTCIngress:
				if l.tcIn {
					perQueue(l.info.RxBase, l.rxq)
				}
			case model.PointTCEgress:
				if l.tcEg {
					add(-1, c[l.info.Slot])
				}
			case model.PointXmit:
				if p.xmit {
					perQueue(l.info.TxBase, l.txq)
				}
			}
		}
	}
	return out, nil
}

// coverage counts the links asked for and those every requested hook counts on.
func (p *Probes) coverage() *model.Coverage {
	c := &model.Coverage{Gaps: p.gaps}
	type key struct {
		ns   uint64
		link string
	}
	short := map[key]bool{}
	whole := map[uint64]bool{}
	asked := map[uint64]int{}
	for _, g := range p.gaps {
		switch {
		case g.Link != "":
			short[key{g.Netns, g.Link}] = true
			if g.Reason == model.GapNotFound {
				asked[g.Netns]++ // asked for by name, never resolved
			}
		case g.Netns != 0:
			whole[g.Netns] = true
		}
	}
	for _, t := range p.targets {
		n := model.NetnsCoverage{Netns: t.inode, Asked: asked[t.inode] + len(t.links)}
		for _, l := range t.links {
			if !whole[t.inode] && !short[key{t.inode, l.name}] {
				n.Watched++
			}
		}
		c.Asked += n.Asked
		c.Watched += n.Watched
		c.PerNetns = append(c.PerNetns, n)
	}
	return c
}

func (p *Probes) drops() ([]model.DropCount, error) {
	if p.syms == nil {
		p.syms = NewSymbols("/proc")
	}
	var out []model.DropCount
	var locs []uint64
	err := readDrops(p.dropsMap, func(key dropsDropKey, count uint64) {
		d := model.DropCount{Reason: p.reasons[key.Reason], Netns: uint64(key.Netns),
			Ifindex: int(key.Ifindex), Count: count}
		if d.Reason == "" {
			d.Reason = fmt.Sprintf("%d", key.Reason)
		}
		if t := p.byInode[d.Netns]; t != nil {
			d.Link = t.names[d.Ifindex]
		}
		out = append(out, d)
		locs = append(locs, key.Location)
	})
	if err != nil {
		return nil, fmt.Errorf("read drops: %w", err)
	}
	if err := p.syms.Resolve(locs); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Location = p.syms.Lookup(locs[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out, nil
}

// dropsBatch is how many drop keys one batch lookup reads.
const dropsBatch = 256

// readDrops passes every key of the per-CPU drops hash with its count summed over CPUs to
// fn, in batches of dropsBatch keys rather than two system calls per key. Kernels without
// batch operations (before 5.6) iterate.
func readDrops(m *ebpf.Map, fn func(dropsDropKey, uint64)) error {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	keys := make([]dropsDropKey, dropsBatch)
	vals := make([]uint64, dropsBatch*ncpu)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			return iterateDrops(m, fn)
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
		for i := range n {
			fn(keys[i], sum(vals[i*ncpu:(i+1)*ncpu]))
		}
		if err != nil { // ErrKeyNotExist: the last batch
			return nil
		}
	}
}

func iterateDrops(m *ebpf.Map, fn func(dropsDropKey, uint64)) error {
	var (
		key  dropsDropKey
		vals []uint64
	)
	it := m.Iterate()
	for it.Next(&key, &vals) {
		fn(key, sum(vals))
	}
	return it.Err()
}
