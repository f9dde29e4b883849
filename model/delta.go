package model

import (
	"errors"
	"slices"
	"time"
)

// ErrOrder is returned when the second sample is not later than the first.
var ErrOrder = errors.New("samples out of order")

// Delta is what happened between two samples: counter values become differences (never
// negative), gauges and settings come from the later sample.
type Delta struct {
	Interval time.Duration
	Prev     *Sample
	Cur      *Sample

	Links   []Link // counters are differences; settings and gauges are current
	Softnet []SoftnetCPU
	NetRx   []uint64
	// SNMP holds the differences of the protocol counters; gauges and constants
	// (SNMPNotCounter) are not in it: their current value is in Cur.SNMP. Read only: Deltas
	// of samples whose counters stood still share one map of zeros.
	SNMP       map[string]uint64
	Interrupts []IRQ
	InPath     *InPath
	// UDPSockets are the sockets that dropped during the interval (Drops is the difference,
	// matched by inode; a socket absent from Prev counts all its drops); the rest is current.
	UDPSockets []UDPSocket
	// Conntrack holds the differences of the nf_conntrack counters present in both samples;
	// nil when either sample has none.
	Conntrack map[string]uint64
	// Firewall is the current ruleset with each rule's counter difference (a rule added
	// during the interval counts from zero); nil when the current sample has none.
	Firewall *Firewall
	// Neigh are the neighbour tables present in both samples: Counters are differences,
	// Entries and NetnsEntries current.
	Neigh []NeighTable
	// TCPRetrans are the connections that retransmitted during the interval: TotalRetrans
	// and SegsOut are differences, matched by local and remote address (a connection absent
	// from Prev counts all of its own); the rest is current.
	TCPRetrans []TCPConn
	// TCPDropping are the connections that dropped during the interval: Drops is the
	// difference, for a connection in both samples matched by address pair and inode; one
	// absent from Prev counts all of its own unless Prev's list left some out (then its
	// share of the interval is unknown and it is left out here). The rest is current.
	TCPDropping []TCPConn
	// Resets names counters that went backwards (driver reload, ring resize, qdisc
	// replaced): their difference is the current value, a lower bound.
	Resets []string
}

// Rate turns a difference into events per second over the interval.
func (d *Delta) Rate(n uint64) float64 {
	s := d.Interval.Seconds()
	if s <= 0 {
		return 0
	}
	return float64(n) / s
}

// Link returns the delta of the named link, or nil.
func (d *Delta) Link(name string) *Link {
	for i := range d.Links {
		if d.Links[i].Name == name {
			return &d.Links[i]
		}
	}
	return nil
}

// Diff computes the delta from prev to cur.
func Diff(prev, cur *Sample) (*Delta, error) {
	if !cur.Time.After(prev.Time) {
		return nil, ErrOrder
	}
	d := &Delta{Interval: cur.Time.Sub(prev.Time), Prev: prev, Cur: cur, Links: make([]Link, 0, len(cur.Links))}
	r := resets{d: d}

	prevLinks := make(map[int]*Link, len(prev.Links))
	for i := range prev.Links {
		prevLinks[prev.Links[i].Index] = &prev.Links[i]
	}
	for _, cl := range cur.Links {
		pl, ok := prevLinks[cl.Index]
		if !ok || pl.Name != cl.Name {
			continue // appeared during the interval: no baseline
		}
		d.Links = append(d.Links, r.link(pl, cl))
	}

	prevCPU := make(map[int]SoftnetCPU, len(prev.Softnet))
	for _, c := range prev.Softnet {
		prevCPU[c.CPU] = c
	}
	for _, c := range cur.Softnet {
		p, ok := prevCPU[c.CPU]
		if !ok {
			continue // CPU came online during the interval
		}
		// softnet_stat counters are 32-bit: modular subtraction is the wrap handling.
		d.Softnet = append(d.Softnet, SoftnetCPU{
			CPU:            c.CPU,
			Processed:      c.Processed - p.Processed,
			Dropped:        c.Dropped - p.Dropped,
			TimeSqueeze:    c.TimeSqueeze - p.TimeSqueeze,
			ReceivedRPS:    c.ReceivedRPS - p.ReceivedRPS,
			FlowLimitCount: c.FlowLimitCount - p.FlowLimitCount,
			BacklogLen:     c.BacklogLen,
		})
	}

	if len(prev.NetRx) == len(cur.NetRx) {
		d.NetRx = make([]uint64, len(cur.NetRx))
		for i := range cur.NetRx {
			d.NetRx[i] = r.diff64("", "", prev.NetRx[i], cur.NetRx[i])
		}
	}

	if sameMap(prev.SNMP, cur.SNMP) {
		d.SNMP = stillSNMPDelta(prev, cur)
	} else {
		d.SNMP = make(map[string]uint64, len(cur.SNMP))
		for k, v := range cur.SNMP {
			pv, ok := prev.SNMP[k]
			if !ok || SNMPNotCounter(k) {
				continue
			}
			d.SNMP[k] = r.diff64("snmp ", k, pv, v)
		}
	}

	prevIRQ := make(map[int]IRQ, len(prev.Interrupts))
	for _, q := range prev.Interrupts {
		prevIRQ[q.IRQ] = q
	}
	for _, q := range cur.Interrupts {
		p, ok := prevIRQ[q.IRQ]
		if !ok || len(p.PerCPU) != len(q.PerCPU) {
			continue
		}
		dq := q
		dq.PerCPU = make([]uint64, len(q.PerCPU))
		for i := range q.PerCPU {
			dq.PerCPU[i] = r.diff64("", "", p.PerCPU[i], q.PerCPU[i])
		}
		d.Interrupts = append(d.Interrupts, dq)
	}

	if cur.InPath != nil {
		d.InPath = r.inPath(prev.InPath, cur.InPath)
	}
	d.UDPSockets = udpSockets(prev.UDPSockets, cur.UDPSockets)
	if cur.Firewall != nil {
		d.Firewall = r.firewall(prev.Firewall, cur.Firewall)
	}
	if prev.Conntrack != nil && cur.Conntrack != nil {
		d.Conntrack = make(map[string]uint64, len(cur.Conntrack))
		for k, v := range cur.Conntrack {
			if pv, ok := prev.Conntrack[k]; ok {
				d.Conntrack[k] = r.diffSum32("conntrack ", k, pv, v)
			}
		}
	}
	d.Neigh = r.neigh(prev.Neigh, cur.Neigh)
	d.TCPRetrans = tcpRetrans(prev.TCPRetrans, cur.TCPRetrans)
	d.TCPDropping = tcpDropping(prev, cur)
	return d, nil
}

// neigh diffs the neighbour tables' counters by table and counter name.
func (r resets) neigh(prev, cur []NeighTable) []NeighTable {
	var out []NeighTable
	for _, c := range cur {
		i := slices.IndexFunc(prev, func(p NeighTable) bool { return p.Name == c.Name })
		if i < 0 {
			continue
		}
		dc := c
		dc.Counters = make(map[string]uint64, len(c.Counters))
		prefix := "neigh " + c.Name + " "
		for k, v := range c.Counters {
			if pv, ok := prev[i].Counters[k]; ok {
				dc.Counters[k] = r.diff64(prefix, k, pv, v)
			}
		}
		out = append(out, dc)
	}
	return out
}

// tcpRetrans diffs retransmission counts by address pair (the inode is 0 once the
// application closed the socket, and the pair names one connection at a time). Readers keep
// only connections that have retransmitted; a count lower than before is a new connection
// on the same addresses, whose whole count is new.
func tcpRetrans(prev, cur []TCPConn) []TCPConn {
	if len(cur) == 0 {
		return nil
	}
	type pair struct{ local, remote string }
	before := make(map[pair]TCPConn, len(prev))
	for _, c := range prev {
		before[pair{c.Local, c.Remote}] = c
	}
	var out []TCPConn
	for _, c := range cur {
		if p, ok := before[pair{c.Local, c.Remote}]; ok && c.TotalRetrans >= p.TotalRetrans {
			c.TotalRetrans -= p.TotalRetrans
			c.SegsOut -= p.SegsOut // the same connection: 32 bits, a wrap subtracts right
		}
		if c.TotalRetrans > 0 {
			out = append(out, c)
		}
	}
	return out
}

// tcpDropping diffs the connections' drop counts. Readers keep only connections that have
// dropped, at most a cap, so one absent from prev had no drop then, or did not exist yet —
// all its drops are the interval's — unless prev's list left some out: it may have been one
// of those, and how much of its count is older is unknown (it is left out, not overcounted).
// A connection in prev is the same socket when its inode is (or became 0: the application
// closed it since) and its count did not go down; otherwise the addresses belong to a new
// socket, made since prev, whose whole count is new.
func tcpDropping(prev, cur *Sample) []TCPConn {
	if len(cur.TCPDropping) == 0 {
		return nil
	}
	type pair struct{ local, remote string }
	before := make(map[pair]TCPConn, len(prev.TCPDropping))
	for _, c := range prev.TCPDropping {
		before[pair{c.Local, c.Remote}] = c
	}
	var out []TCPConn
	for _, c := range cur.TCPDropping {
		p, ok := before[pair{c.Local, c.Remote}]
		switch {
		case ok && (c.Inode == p.Inode || c.Inode == 0) && c.Drops >= p.Drops:
			c.Drops -= p.Drops
		case !ok && prev.TCPDroppingOmitted > 0:
			continue
		}
		if c.Drops > 0 {
			out = append(out, c)
		}
	}
	return out
}

// udpSockets diffs drop counts by inode. Readers keep only sockets that have dropped, so a
// socket missing from prev had no drops then (or was created since). A lower count than
// before means the inode now belongs to another socket: its whole count is new. Sockets
// gone by cur are skipped: their buffer can no longer be read or changed.
func udpSockets(prev, cur []UDPSocket) []UDPSocket {
	if len(cur) == 0 {
		return nil
	}
	before := make(map[uint64]uint64, len(prev))
	for _, s := range prev {
		before[s.Inode] = s.Drops
	}
	var out []UDPSocket
	for _, s := range cur {
		if p := before[s.Inode]; s.Drops >= p {
			s.Drops -= p
		}
		if s.Drops > 0 {
			out = append(out, s)
		}
	}
	return out
}

type resets struct{ d *Delta }

// diff64 handles a 64-bit counter: going backwards means it was reset to zero. The counter's
// name is prefix+name, joined only when it is reported (the common case allocates nothing).
func (r resets) diff64(prefix, name string, prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	if name != "" {
		r.d.Resets = append(r.d.Resets, prefix+name)
	}
	return cur
}

// diffWrap handles a counter that the kernel or hardware keeps in 32 bits but that may also
// be reset. A large previous value that went backwards is read as a wrap, a small one as a
// reset: one wrap per interval is the most a sane interval sees.
func (r resets) diffWrap(prefix, name string, prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	if prev >= 1<<31 && prev < 1<<32 {
		return cur + 1<<32 - prev
	}
	r.d.Resets = append(r.d.Resets, prefix+name)
	return cur
}

// diffSum32 handles a sum of per-CPU 32-bit counters (nf_conntrack): any CPU may wrap, so the
// sum can go backwards by up to 2³² per wrapped CPU, which no threshold on the previous value
// tells apart from a reset (a namespace recreated under the same name). The sum modulo 2³²
// still moves by exactly the true difference modulo 2³², and no interval sees 2³² events, so
// a wrap's difference is (cur − prev) mod 2³²; a reset's is at least cur. Taking the smaller
// is a lower bound under either reading, and it is reported as one.
func (r resets) diffSum32(prefix, name string, prev, cur uint64) uint64 {
	if cur >= prev {
		return cur - prev
	}
	r.d.Resets = append(r.d.Resets, prefix+name)
	return min(uint64(uint32(cur-prev)), cur)
}

func (r resets) link(p *Link, c Link) Link {
	out := c
	n := c.Name + " "
	ps, cs := p.Stats, c.Stats
	out.Stats = LinkStats{
		RxPackets:       r.diff64(n, "rx_packets", ps.RxPackets, cs.RxPackets),
		TxPackets:       r.diff64(n, "tx_packets", ps.TxPackets, cs.TxPackets),
		RxBytes:         r.diff64(n, "rx_bytes", ps.RxBytes, cs.RxBytes),
		TxBytes:         r.diff64(n, "tx_bytes", ps.TxBytes, cs.TxBytes),
		RxErrors:        r.diff64(n, "rx_errors", ps.RxErrors, cs.RxErrors),
		TxErrors:        r.diff64(n, "tx_errors", ps.TxErrors, cs.TxErrors),
		RxDropped:       r.diff64(n, "rx_dropped", ps.RxDropped, cs.RxDropped),
		TxDropped:       r.diff64(n, "tx_dropped", ps.TxDropped, cs.TxDropped),
		RxLengthErrors:  r.diff64(n, "rx_length_errors", ps.RxLengthErrors, cs.RxLengthErrors),
		RxOverErrors:    r.diff64(n, "rx_over_errors", ps.RxOverErrors, cs.RxOverErrors),
		RxCrcErrors:     r.diff64(n, "rx_crc_errors", ps.RxCrcErrors, cs.RxCrcErrors),
		RxFrameErrors:   r.diff64(n, "rx_frame_errors", ps.RxFrameErrors, cs.RxFrameErrors),
		RxFifoErrors:    r.diff64(n, "rx_fifo_errors", ps.RxFifoErrors, cs.RxFifoErrors),
		RxMissedErrors:  r.diff64(n, "rx_missed_errors", ps.RxMissedErrors, cs.RxMissedErrors),
		TxAbortedErrors: r.diff64(n, "tx_aborted_errors", ps.TxAbortedErrors, cs.TxAbortedErrors),
		TxCarrierErrors: r.diff64(n, "tx_carrier_errors", ps.TxCarrierErrors, cs.TxCarrierErrors),
		TxFifoErrors:    r.diff64(n, "tx_fifo_errors", ps.TxFifoErrors, cs.TxFifoErrors),
		RxNoHandler:     r.diff64(n, "rx_nohandler", ps.RxNoHandler, cs.RxNoHandler),
	}

	out.Counters = sized[Counter](len(c.Counters))
	var prevCounters map[string]uint64 // built only when the two lists differ
	for i, k := range c.Counters {
		var pv uint64
		if i < len(p.Counters) && p.Counters[i].Name == k.Name && prevCounters == nil {
			pv = p.Counters[i].Value // same string set: the lists line up (the common case)
		} else {
			if prevCounters == nil {
				prevCounters = make(map[string]uint64, len(p.Counters))
				for _, pk := range p.Counters {
					prevCounters[pk.Name] = pk.Value
				}
			}
			var ok bool
			if pv, ok = prevCounters[k.Name]; !ok {
				continue // queue added during the interval
			}
		}
		if k.Wrap32 {
			k.Value = r.diffWrap(n, k.Name, pv, k.Value)
		} else {
			k.Value = r.diff64(n, k.Name, pv, k.Value)
		}
		out.Counters = append(out.Counters, k)
	}

	out.Qdiscs = sized[Qdisc](len(c.Qdiscs))
	for _, q := range c.Qdiscs {
		pq := findQdisc(p.Qdiscs, q)
		if pq == nil {
			continue
		}
		qn := n + "qdisc " + q.Kind + " " + q.Handle + " "
		sub := r.diff64
		if q.Wrap32 {
			sub = r.diffWrap
		}
		q.Packets = sub(qn, "packets", pq.Packets, q.Packets)
		q.Bytes = sub(qn, "bytes", pq.Bytes, q.Bytes)
		q.Drops = sub(qn, "drops", pq.Drops, q.Drops)
		q.Overlimits = sub(qn, "overlimits", pq.Overlimits, q.Overlimits)
		q.Requeues = sub(qn, "requeues", pq.Requeues, q.Requeues)
		out.Qdiscs = append(out.Qdiscs, q)
	}
	return out
}

// sized is an empty slice with room for n, or nil for none (as the sample had).
func sized[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, 0, n)
}

func findQdisc(qs []Qdisc, q Qdisc) *Qdisc {
	for i := range qs {
		if qs[i].Handle == q.Handle && qs[i].Parent == q.Parent && qs[i].Kind == q.Kind {
			return &qs[i]
		}
	}
	return nil
}

func (r resets) inPath(p, c *InPath) *InPath {
	out := *c
	if p == nil {
		p = &InPath{}
	}
	type pointKey struct {
		pt    Point
		ns    uint64
		ifx   int
		queue int
	}
	pp := make(map[pointKey]PointCount, len(p.Points))
	for _, x := range p.Points {
		pp[pointKey{x.Point, x.Netns, x.Ifindex, x.Queue}] = x
	}
	out.Points = make([]PointCount, 0, len(c.Points))
	for _, x := range c.Points {
		b := pp[pointKey{x.Point, x.Netns, x.Ifindex, x.Queue}]
		x.Packets = r.diff64("", "", b.Packets, x.Packets)
		x.Bytes = r.diff64("", "", b.Bytes, x.Bytes)
		out.Points = append(out.Points, x)
	}
	type dropKey struct {
		reason, loc string
		ns          uint64
		ifx         int
	}
	pd := make(map[dropKey]uint64, len(p.Drops))
	for _, x := range p.Drops {
		pd[dropKey{x.Reason, x.Location, x.Netns, x.Ifindex}] = x.Count
	}
	out.Drops = make([]DropCount, 0, len(c.Drops))
	for _, x := range c.Drops {
		x.Count = r.diff64("", "", pd[dropKey{x.Reason, x.Location, x.Netns, x.Ifindex}], x.Count)
		if x.Count > 0 {
			out.Drops = append(out.Drops, x)
		}
	}
	out.MapErrors = r.diff64("", "", p.MapErrors, c.MapErrors)
	return &out
}

// firewall diffs rule counters by rule key. A rule absent from prev was added during the
// interval: its counter started at zero. A counter that went backwards belongs to a rule
// that was replaced (or reset with `nft reset counters`). Without a ruleset in prev there is
// no baseline: no rule counted anything that can be told.
func (r resets) firewall(p, c *Firewall) *Firewall {
	out := *c
	out.Rules = make([]FirewallRule, len(c.Rules))
	copy(out.Rules, c.Rules)
	before := map[string]FirewallRule{}
	if p != nil {
		for _, x := range p.Rules {
			if x.Counter {
				before[x.Key()] = x
			}
		}
	}
	for i := range out.Rules {
		x := &out.Rules[i]
		if !x.Counter {
			continue
		}
		if p == nil {
			x.Packets, x.Bytes = 0, 0
			continue
		}
		b := before[x.Key()]
		x.Packets = r.diff64("nft ", x.Key()+" packets", b.Packets, x.Packets)
		x.Bytes = r.diff64("", "", b.Bytes, x.Bytes)
	}
	return &out
}
