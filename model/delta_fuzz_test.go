package model

import (
	"testing"
	"time"
)

// FuzzDiffBaseline diffs two samples read from baseline files (apply --auto diffs the one it
// saved against the live sample): whatever the files hold, no difference exceeds the counter's
// current value (a reset gives the current value, a lower bound), except across a 32-bit wrap,
// which stays below 2^32.
func FuzzDiffBaseline(f *testing.F) {
	f.Add(full(t0, 1).AppendBaseline(nil), full(t0.Add(time.Second), 3).AppendBaseline(nil))
	f.Add(full(t0, 3).AppendBaseline(nil), full(t0.Add(time.Second), 1).AppendBaseline(nil))
	f.Fuzz(func(t *testing.T, pb, cb []byte) {
		prev, err := ParseBaseline(pb)
		if err != nil {
			return
		}
		cur, err := ParseBaseline(cb)
		if err != nil {
			return
		}
		d, err := Diff(prev, cur)
		if err != nil {
			return
		}
		atMost := func(what string, diff, now uint64) {
			if diff > now {
				t.Fatalf("%s: difference %d above the current value %d", what, diff, now)
			}
		}
		for k, v := range d.SNMP {
			atMost("snmp "+k, v, cur.SNMP[k])
		}
		for k, v := range d.Conntrack {
			atMost("conntrack "+k, v, cur.Conntrack[k])
		}
		for _, s := range d.UDPSockets {
			if s.Drops == 0 {
				t.Fatalf("socket %+v without drops", s)
			}
		}
		if len(d.Links) > len(cur.Links) || len(d.Interrupts) > len(cur.Interrupts) || len(d.Softnet) > len(cur.Softnet) {
			t.Fatalf("%d links, %d irqs, %d cpus from %d, %d, %d", len(d.Links), len(d.Interrupts), len(d.Softnet),
				len(cur.Links), len(cur.Interrupts), len(cur.Softnet))
		}
		for _, l := range d.Links {
			var now []Counter // of the links in cur with l's index and name (files may repeat one)
			var nowQ []Qdisc
			for _, c := range cur.Links {
				if c.Index == l.Index && c.Name == l.Name {
					now, nowQ = append(now, c.Counters...), append(nowQ, c.Qdiscs...)
				}
			}
			for _, c := range l.Counters {
				var v uint64
				for _, n := range now {
					if n.Name == c.Name {
						v = max(v, n.Value)
					}
				}
				atMost(l.Name+" "+c.Name, c.Value, wrapBound(c.Wrap32, v))
			}
			for _, q := range l.Qdiscs {
				var v uint64
				for _, n := range nowQ {
					if n.Kind == q.Kind && n.Handle == q.Handle && n.Parent == q.Parent {
						v = max(v, n.Packets, n.Bytes, n.Drops, n.Overlimits, n.Requeues)
					}
				}
				atMost(l.Name+" qdisc "+q.Kind, max(q.Packets, q.Bytes, q.Drops, q.Overlimits, q.Requeues), wrapBound(q.Wrap32, v))
			}
		}
		if d.InPath != nil {
			for _, x := range d.InPath.Drops {
				atMost("drop "+x.Reason, x.Count, maxDrop(cur.InPath, x))
			}
		}
	})
}

// wrapBound is the most a counter whose current value is now can have moved: now itself, or
// for a 32-bit counter that wrapped, up to 2^32.
func wrapBound(wrap32 bool, now uint64) uint64 {
	if wrap32 {
		return max(now, 1<<32)
	}
	return now
}

// maxDrop is the largest count s has for x's drop key.
func maxDrop(s *InPath, x DropCount) uint64 {
	var m uint64
	for _, y := range s.Drops {
		if y.Reason == x.Reason && y.Location == x.Location && y.Netns == x.Netns && y.Ifindex == x.Ifindex {
			m = max(m, y.Count)
		}
	}
	return m
}
