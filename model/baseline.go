package model

import (
	"encoding/binary"
	"errors"
	"time"
)

// ErrBaseline is returned for bytes that are not a whole baseline of this version.
var ErrBaseline = errors.New("not a nettune baseline")

// baselineMagic starts every baseline; its last byte is the format version.
const baselineMagic = "NTB\x03" // 3: the connections that dropped

// AppendBaseline appends to b what Diff reads from the earlier sample of a pair: the time,
// the counters and the keys that match them. Settings, gauges and counter metadata come from
// the later sample and are left out. apply --auto keeps this between runs; a compact
// fixed-order encoding costs a fraction of gob's reflection at 1 000 interfaces, on a path
// whose whole budget is 100 ms.
func (s *Sample) AppendBaseline(b []byte) []byte {
	w := &enc{b: append(b, baselineMagic...), seen: map[string]uint64{}}
	w.int(s.Time.UnixNano())
	w.uint(uint64(len(s.Links)))
	for i := range s.Links {
		l := &s.Links[i]
		w.str(l.Name)
		w.int(int64(l.Index))
		st := &l.Stats
		for _, v := range [...]uint64{st.RxPackets, st.TxPackets, st.RxBytes, st.TxBytes, st.RxErrors, st.TxErrors,
			st.RxDropped, st.TxDropped, st.RxLengthErrors, st.RxOverErrors, st.RxCrcErrors, st.RxFrameErrors,
			st.RxFifoErrors, st.RxMissedErrors, st.TxAbortedErrors, st.TxCarrierErrors, st.TxFifoErrors, st.RxNoHandler} {
			w.uint(v)
		}
		w.uint(uint64(len(l.Counters)))
		for _, c := range l.Counters {
			w.str(c.Name)
			w.uint(c.Value)
		}
		w.uint(uint64(len(l.Qdiscs)))
		for _, q := range l.Qdiscs {
			w.str(q.Kind)
			w.str(q.Handle)
			w.str(q.Parent)
			for _, v := range [...]uint64{q.Packets, q.Bytes, q.Drops, q.Overlimits, q.Requeues} {
				w.uint(v)
			}
		}
	}
	w.uint(uint64(len(s.Softnet)))
	for _, c := range s.Softnet {
		w.int(int64(c.CPU))
		for _, v := range [...]uint32{c.Processed, c.Dropped, c.TimeSqueeze, c.ReceivedRPS, c.FlowLimitCount} {
			w.uint(uint64(v))
		}
	}
	w.uints(s.NetRx)
	w.counters(s.SNMP)
	w.uint(uint64(len(s.Interrupts)))
	for _, q := range s.Interrupts {
		w.int(int64(q.IRQ))
		w.uints(q.PerCPU)
	}
	w.bool(s.InPath != nil)
	if ip := s.InPath; ip != nil {
		w.uint(uint64(len(ip.Points)))
		for _, p := range ip.Points {
			w.str(string(p.Point))
			w.uint(p.Netns)
			w.int(int64(p.Ifindex))
			w.int(int64(p.Queue))
			w.uint(p.Packets)
			w.uint(p.Bytes)
		}
		w.uint(uint64(len(ip.Drops)))
		for _, d := range ip.Drops {
			w.str(d.Reason)
			w.str(d.Location)
			w.uint(d.Netns)
			w.int(int64(d.Ifindex))
			w.uint(d.Count)
		}
		w.uint(ip.MapErrors)
	}
	w.uint(uint64(len(s.UDPSockets)))
	for _, u := range s.UDPSockets {
		w.uint(u.Inode)
		w.uint(u.Drops)
	}
	w.bool(s.Conntrack != nil) // Diff tells "no conntrack" from "no counters"
	w.counters(s.Conntrack)
	w.bool(s.Firewall != nil) // and "no ruleset read" from "no rule with a counter"
	if fw := s.Firewall; fw != nil {
		n := 0
		for i := range fw.Rules {
			if fw.Rules[i].Counter {
				n++
			}
		}
		w.uint(uint64(n))
		for _, x := range fw.Rules {
			if x.Counter {
				w.str(x.Family)
				w.str(x.Table)
				w.str(x.Chain)
				w.uint(x.Handle)
				w.uint(x.Packets)
				w.uint(x.Bytes)
			}
		}
	}
	w.uint(uint64(len(s.Neigh)))
	for _, n := range s.Neigh {
		w.str(n.Name)
		w.counters(n.Counters)
	}
	w.uint(uint64(len(s.TCPRetrans)))
	for _, c := range s.TCPRetrans {
		w.str(c.Local)
		w.str(c.Remote)
		w.uint(uint64(c.TotalRetrans))
		w.uint(uint64(c.SegsOut))
	}
	w.uint(uint64(len(s.TCPDropping)))
	for _, c := range s.TCPDropping {
		w.str(c.Local)
		w.str(c.Remote)
		w.uint(c.Inode)
		w.uint(c.Drops)
	}
	w.uint(uint64(uint32(s.TCPDroppingOmitted)))
	return w.b
}

// ParseBaseline reads a baseline written by AppendBaseline into a Sample that holds only
// the baseline's fields. Anything else (another version, a torn file) is ErrBaseline.
func ParseBaseline(b []byte) (*Sample, error) {
	if len(b) < len(baselineMagic) || string(b[:len(baselineMagic)]) != baselineMagic {
		return nil, ErrBaseline
	}
	r := &dec{b: b[len(baselineMagic):]}
	s := &Sample{Time: time.Unix(0, r.int()).UTC()}
	s.Links = make([]Link, r.count(20))
	for i := range s.Links {
		l := &s.Links[i]
		l.Name = r.str()
		l.Index = int(r.int())
		st := &l.Stats
		for _, p := range [...]*uint64{&st.RxPackets, &st.TxPackets, &st.RxBytes, &st.TxBytes, &st.RxErrors, &st.TxErrors,
			&st.RxDropped, &st.TxDropped, &st.RxLengthErrors, &st.RxOverErrors, &st.RxCrcErrors, &st.RxFrameErrors,
			&st.RxFifoErrors, &st.RxMissedErrors, &st.TxAbortedErrors, &st.TxCarrierErrors, &st.TxFifoErrors, &st.RxNoHandler} {
			*p = r.uint()
		}
		if n := r.count(2); n > 0 {
			l.Counters = make([]Counter, n)
			for j := range l.Counters {
				l.Counters[j] = Counter{Name: r.str(), Value: r.uint()}
			}
		}
		if n := r.count(8); n > 0 {
			l.Qdiscs = make([]Qdisc, n)
			for j := range l.Qdiscs {
				q := &l.Qdiscs[j]
				q.Kind, q.Handle, q.Parent = r.str(), r.str(), r.str()
				q.Packets, q.Bytes, q.Drops, q.Overlimits, q.Requeues = r.uint(), r.uint(), r.uint(), r.uint(), r.uint()
			}
		}
	}
	if n := r.count(6); n > 0 {
		s.Softnet = make([]SoftnetCPU, n)
		for i := range s.Softnet {
			c := &s.Softnet[i]
			c.CPU = int(r.int())
			for _, p := range [...]*uint32{&c.Processed, &c.Dropped, &c.TimeSqueeze, &c.ReceivedRPS, &c.FlowLimitCount} {
				*p = uint32(r.uint())
			}
		}
	}
	s.NetRx = r.uints()
	s.SNMP = r.counters()
	if n := r.count(2); n > 0 {
		s.Interrupts = make([]IRQ, n)
		for i := range s.Interrupts {
			s.Interrupts[i] = IRQ{IRQ: int(r.int()), PerCPU: r.uints()}
		}
	}
	if r.bool() {
		ip := &InPath{}
		if n := r.count(6); n > 0 {
			ip.Points = make([]PointCount, n)
			for i := range ip.Points {
				ip.Points[i] = PointCount{Point: Point(r.str()), Netns: r.uint(), Ifindex: int(r.int()), Queue: int(r.int()),
					Packets: r.uint(), Bytes: r.uint()}
			}
		}
		if n := r.count(5); n > 0 {
			ip.Drops = make([]DropCount, n)
			for i := range ip.Drops {
				ip.Drops[i] = DropCount{Reason: r.str(), Location: r.str(), Netns: r.uint(), Ifindex: int(r.int()), Count: r.uint()}
			}
		}
		ip.MapErrors = r.uint()
		s.InPath = ip
	}
	if n := r.count(2); n > 0 {
		s.UDPSockets = make([]UDPSocket, n)
		for i := range s.UDPSockets {
			s.UDPSockets[i] = UDPSocket{Inode: r.uint(), Drops: r.uint()}
		}
	}
	hasConntrack := r.bool()
	s.Conntrack = r.counters()
	if hasConntrack && s.Conntrack == nil {
		s.Conntrack = map[string]uint64{}
	}
	if r.bool() {
		fw := &Firewall{}
		if n := r.count(6); n > 0 {
			fw.Rules = make([]FirewallRule, n)
			for i := range fw.Rules {
				fw.Rules[i] = FirewallRule{Family: r.str(), Table: r.str(), Chain: r.str(), Handle: r.uint(),
					Counter: true, Packets: r.uint(), Bytes: r.uint()}
			}
		}
		s.Firewall = fw
	}
	if n := r.count(2); n > 0 {
		s.Neigh = make([]NeighTable, n)
		for i := range s.Neigh {
			s.Neigh[i] = NeighTable{Name: r.str(), Counters: r.counters()}
		}
	}
	if n := r.count(4); n > 0 {
		s.TCPRetrans = make([]TCPConn, n)
		for i := range s.TCPRetrans {
			s.TCPRetrans[i] = TCPConn{Local: r.str(), Remote: r.str(), TotalRetrans: r.uint32(), SegsOut: r.uint32()}
		}
	}
	if n := r.count(4); n > 0 {
		s.TCPDropping = make([]TCPConn, n)
		for i := range s.TCPDropping {
			s.TCPDropping[i] = TCPConn{Local: r.str(), Remote: r.str(), Inode: r.uint(), Drops: r.uint()}
		}
	}
	s.TCPDroppingOmitted = int(r.uint32())
	if r.bad || len(r.b) > 0 {
		return nil, ErrBaseline
	}
	return s, nil
}

// enc appends varints: unsigned for counters and lengths, zigzag for what may be negative.
// Strings are written once and then referred to: a thousand links repeat the same counter
// and qdisc names, which would otherwise be most of the bytes, and the parser then keeps one
// copy of each.
type enc struct {
	b    []byte
	seen map[string]uint64 // string → 1 + its index in order of first appearance
}

func (w *enc) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *enc) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }

// str writes a reference (1 + index) to a string written before, or 0, its length and bytes.
func (w *enc) str(s string) {
	if ref, ok := w.seen[s]; ok {
		w.uint(ref)
		return
	}
	w.seen[s] = uint64(len(w.seen)) + 1
	w.uint(0)
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *enc) bool(v bool) {
	if v {
		w.uint(1)
	} else {
		w.uint(0)
	}
}

func (w *enc) uints(vs []uint64) {
	w.uint(uint64(len(vs)))
	for _, v := range vs {
		w.uint(v)
	}
}

func (w *enc) counters(m map[string]uint64) {
	w.uint(uint64(len(m)))
	for k, v := range m {
		w.str(k)
		w.uint(v)
	}
}

// dec reads what enc wrote. The first malformed read sets bad and every later read returns
// zero, so a parser checks once at the end; counts are checked against the bytes left before
// anything is allocated for them.
type dec struct {
	b    []byte
	strs []string // in order of first appearance
	bad  bool
}

// fail marks the input malformed: every later read returns zero.
func (r *dec) fail() { r.bad, r.b = true, nil }

// skip consumes the n bytes a varint took; n <= 0 is a malformed or missing one.
func (r *dec) skip(n int) bool {
	if n <= 0 {
		r.fail()
		return false
	}
	r.b = r.b[n:]
	return true
}

func (r *dec) uint() uint64 {
	v, n := binary.Uvarint(r.b)
	if !r.skip(n) {
		return 0
	}
	return v
}

// uint32 reads a value that was 32 bits when written.
func (r *dec) uint32() uint32 {
	v := r.uint()
	if v > 1<<32-1 {
		r.fail()
		return 0
	}
	return uint32(v)
}

func (r *dec) int() int64 {
	v, n := binary.Varint(r.b)
	if !r.skip(n) {
		return 0
	}
	return v
}

// count reads a length whose elements take at least min bytes each.
func (r *dec) count(min int) int {
	n := r.uint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *dec) str() string {
	ref := r.uint()
	if ref > 0 {
		if ref > uint64(len(r.strs)) {
			r.fail()
			return ""
		}
		return r.strs[ref-1]
	}
	n := r.count(1)
	s := string(r.b[:n])
	r.b = r.b[n:]
	if !r.bad {
		r.strs = append(r.strs, s)
	}
	return s
}

func (r *dec) bool() bool { return r.uint() == 1 }

func (r *dec) uints() []uint64 {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	vs := make([]uint64, n)
	for i := range vs {
		vs[i] = r.uint()
	}
	return vs
}

func (r *dec) counters() map[string]uint64 {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]uint64, n)
	for range n {
		k := r.str()
		m[k] = r.uint()
	}
	return m
}
