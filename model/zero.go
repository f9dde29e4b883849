package model

import "time"

// Zero is the sample whose difference to s (Diff(s.Zero(), s)) is every counter of s as it
// stands: what the kernel counted since each counter started (boot, driver load, namespace
// creation). Its time is one second before s, so rates over that delta are the counts
// themselves. It has no in-path counts: Diff then takes s's, which count since the probes were
// attached. Settings and gauges come from s in a Diff, so only the keys that match counters are
// copied.
func (s *Sample) Zero() *Sample {
	z := &Sample{Time: s.Time.Add(-time.Second), Netns: s.Netns, NCPU: s.NCPU}
	z.Links = make([]Link, len(s.Links))
	for i := range s.Links {
		l := &s.Links[i]
		zl := Link{Name: l.Name, Index: l.Index}
		if l.Counters != nil {
			zl.Counters = make([]Counter, len(l.Counters))
			for j, c := range l.Counters {
				zl.Counters[j] = Counter{Name: c.Name}
			}
		}
		if l.Qdiscs != nil {
			zl.Qdiscs = make([]Qdisc, len(l.Qdiscs))
			for j, q := range l.Qdiscs {
				zl.Qdiscs[j] = Qdisc{Kind: q.Kind, Handle: q.Handle, Parent: q.Parent}
			}
		}
		z.Links[i] = zl
	}
	z.Softnet = make([]SoftnetCPU, len(s.Softnet))
	for i, c := range s.Softnet {
		z.Softnet[i] = SoftnetCPU{CPU: c.CPU}
	}
	if s.NetRx != nil {
		z.NetRx = make([]uint64, len(s.NetRx))
	}
	z.SNMP = zeroKeys(s.SNMP)
	z.Interrupts = make([]IRQ, len(s.Interrupts))
	for i, q := range s.Interrupts {
		z.Interrupts[i] = IRQ{IRQ: q.IRQ, PerCPU: make([]uint64, len(q.PerCPU))}
	}
	z.Conntrack = zeroKeys(s.Conntrack)
	return z
}

func zeroKeys(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	z := make(map[string]uint64, len(m))
	for k := range m {
		z[k] = 0
	}
	return z
}
