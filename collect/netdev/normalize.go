package netdev

import (
	"slices"
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// meaning is what one driver counter proves: the stage (docs/drivers.md stage code mapped to a
// nettune stage), whether it counts packets, drops or mere events, and its direction.
type meaning struct {
	stage  stage.Stage
	policy bool // drops a configured decision made (STEER, POLICER)
	kind   model.Kind
	dir    model.Dir
	wrap32 bool
}

// docs/drivers.md stage codes as nettune meanings. Counters of reset events (a watchdog, a ring
// reset) count incidents, not packets: they are events at the stage where traffic is lost.
var (
	rxPhy     = meaning{stage: stage.NICPhy, kind: model.KindDrops, dir: model.Rx}
	rxPhyEv   = meaning{stage: stage.NICPhy, kind: model.KindEvents, dir: model.Rx}
	txPhy     = meaning{stage: stage.NICPhy, kind: model.KindDrops, dir: model.Tx}
	portBuf   = meaning{stage: stage.NICFifo, kind: model.KindDrops, dir: model.Rx} // PORT_BUF, PCIE
	rxRing    = meaning{stage: stage.RxRing, kind: model.KindDrops, dir: model.Rx}  // RX_RING, HOST, SW_RX
	rxReset   = meaning{stage: stage.RxRing, kind: model.KindEvents, dir: model.Rx}
	alloc     = meaning{stage: stage.RxRing, kind: model.KindEvents, dir: model.Rx} // may not drop
	rxXDP     = meaning{stage: stage.XDP, kind: model.KindDrops, dir: model.Rx}
	txXDP     = meaning{stage: stage.XDP, kind: model.KindDrops, dir: model.Tx}
	txRing    = meaning{stage: stage.TxRing, kind: model.KindEvents, dir: model.Tx} // queue stopped: not a drop
	txDrop    = meaning{stage: stage.NICTx, kind: model.KindDrops, dir: model.Tx}
	txReset   = meaning{stage: stage.NICTx, kind: model.KindEvents, dir: model.Tx}
	rxPolicy  = meaning{stage: stage.NICFifo, policy: true, kind: model.KindDrops, dir: model.Rx} // STEER, POLICER
	txPolicy  = meaning{stage: stage.NICTx, policy: true, kind: model.KindDrops, dir: model.Tx}
	rxQueuePk = meaning{stage: stage.RxRing, kind: model.KindPackets, dir: model.Rx}
	txQueuePk = meaning{stage: stage.TxRing, kind: model.KindPackets, dir: model.Tx}
	rxMACPk   = meaning{stage: stage.NICPhy, kind: model.KindPackets, dir: model.Rx} // frames the MAC accepted
	txMACPk   = meaning{stage: stage.NICTx, kind: model.KindPackets, dir: model.Tx}
)

// w32 marks a hardware counter that wraps at 2^32.
func w32(m meaning) meaning {
	m.wrap32 = true
	return m
}

// driverTable maps one driver's ethtool -S names to meanings. device holds exact names of
// device-wide counters; queue holds per-queue templates in which "%d" stands for the queue
// index (the first run of digits in the name). Neither holds totals of counters that are
// already listed, so summing a stage's drops never counts a packet twice. INFO counters are
// left out. Some drivers repeat rtnl fields under the same name (ixgbe rx_missed_errors,
// i40e rx_dropped): they are kept for their driver-specific stage, so a consumer must not
// add them to the same link's Stats as well.
type driverTable struct {
	device map[string]meaning
	queue  map[string]meaning
	// adjust, when set, fixes meanings that depend on the whole string set (kernel version
	// or ring layout visible only from the other names). It sees names, never values: it
	// runs once per string set (see plan).
	adjust func(names []string, cs []model.Counter)
}

// drivers is keyed by the ethtool driver name (ethtool -i "driver:"); each drivers_*.go
// file registers its table.
var drivers = map[string]*driverTable{}

// Normalize maps a driver's ethtool -S counters to stage-tagged counters, sorted by name.
// Names are matched exactly per driver; an unknown driver gives nil, since no counter name
// means the same thing across all drivers.
func Normalize(driver string, stats map[string]uint64) []model.Counter {
	names := make([]string, 0, len(stats))
	values := make([]uint64, 0, len(stats))
	for name, v := range stats {
		names = append(names, name)
		values = append(values, v)
	}
	return planFor(driver, names).fill(values)
}

// plan is the normalization of one ethtool string set: the counters nettune understands,
// sorted by name and with Value zero, and for each the index of its value in the set. The
// names, and thus the plan, are the same for every link with the same statsKey (1 000 veths
// with equal queue counts), so reading a link's -S only copies values into a copy of them.
type plan struct {
	counters []model.Counter
	index    []int
}

// planFor returns the plan of driver's string set names (values come in this order); nil
// when the driver is unknown or no name is understood. A name the set repeats takes its
// last value, as in a map built from the set.
func planFor(driver string, names []string) *plan {
	t := drivers[driver]
	if t == nil {
		return nil
	}
	type entry struct {
		c model.Counter
		i int
	}
	var es []entry
	for i, name := range names {
		if m, q, ok := t.lookup(name); ok {
			es = append(es, entry{model.Counter{Name: name, Stage: m.stage, Policy: m.policy, Kind: m.kind, Dir: m.dir,
				Queue: q, Wrap32: m.wrap32}, i})
		}
	}
	if len(es) == 0 {
		return nil
	}
	slices.SortStableFunc(es, func(a, b entry) int { return strings.Compare(a.c.Name, b.c.Name) })
	p := &plan{}
	for k, e := range es {
		if k+1 < len(es) && es[k+1].c.Name == e.c.Name {
			continue // repeated: the last one wins
		}
		p.counters = append(p.counters, e.c)
		p.index = append(p.index, e.i)
	}
	if t.adjust != nil {
		t.adjust(names, p.counters)
	}
	return p
}

// fill returns the plan's counters with their values from values, indexed like the string
// set; nil for a nil plan.
func (p *plan) fill(values []uint64) []model.Counter {
	if p == nil {
		return nil
	}
	out := slices.Clone(p.counters)
	for i, j := range p.index {
		out[i].Value = values[j]
	}
	return out
}

// lookup finds the meaning of name and its queue index (-1 for device-wide counters).
// A per-queue name matches when replacing its first run of digits by "%d" gives a template.
func (t *driverTable) lookup(name string) (meaning, int, bool) {
	if m, ok := t.device[name]; ok {
		return m, -1, true
	}
	start := strings.IndexAny(name, "0123456789")
	if start < 0 {
		return meaning{}, 0, false
	}
	end := start
	for end < len(name) && name[end] >= '0' && name[end] <= '9' {
		end++
	}
	q, err := strconv.Atoi(name[start:end])
	if err != nil {
		return meaning{}, 0, false
	}
	var buf [64]byte // ethtool names are at most 31 bytes: the template stays on the stack
	tmpl := append(append(append(buf[:0], name[:start]...), "%d"...), name[end:]...)
	m, ok := t.queue[string(tmpl)]
	return m, q, ok
}

// counter returns the counter with the given name from a slice sorted by name, or nil.
func counter(cs []model.Counter, name string) *model.Counter {
	i, ok := slices.BinarySearchFunc(cs, name, func(c model.Counter, n string) int { return strings.Compare(c.Name, n) })
	if !ok {
		return nil
	}
	return &cs[i]
}
