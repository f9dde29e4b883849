package policy

import (
	"fmt"
	"sort"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// allQueues selects counters of every queue and of the whole device.
const allQueues = -2

// capacityCounter: a driver counter whose drops are capacity loss (not a steering miss or a
// cloud allowance, docs/drivers.md §2.1).
func capacityCounter(c *model.Counter) bool { return !c.Policy }

// counterSum adds the normalized driver counters of one stage and kind (queue -1 = device-wide
// counters only; allQueues = all); drops of a class other than capacity are not counted.
func counterSum(l *model.Link, st stage.Stage, k model.Kind, queue int) uint64 {
	var n uint64
	for i := range l.Counters {
		c := &l.Counters[i] // not a copy: this runs for every link several times
		if c.Stage == st && c.Kind == k && capacityCounter(c) && (queue == allQueues || c.Queue == queue) {
			n += c.Value
		}
	}
	return n
}

// stageDrops is the capacity loss a driver reports at one stage: the larger of the
// device-wide sum and the per-queue sum, because drivers often export both views of the same
// drops. perQueue holds the queues that dropped; nil when none did (the common case, kept
// free of allocations).
func stageDrops(l *model.Link, st stage.Stage) (total uint64, perQueue map[int]uint64) {
	return driverDrops(l, st, stage.ClassCapacity)
}

// driverDrops is stageDrops for the driver counters of one class.
func driverDrops(l *model.Link, st stage.Stage, class stage.Class) (total uint64, perQueue map[int]uint64) {
	var dev, q uint64
	for i := range l.Counters {
		c := &l.Counters[i]
		if c.Value == 0 || c.Stage != st || c.Kind != model.KindDrops || classOf(c) != class {
			continue
		}
		if c.Queue < 0 {
			dev += c.Value
			continue
		}
		q += c.Value
		if perQueue == nil {
			perQueue = map[int]uint64{}
		}
		perQueue[c.Queue] += c.Value
	}
	return max(dev, q), perQueue
}

func classOf(c *model.Counter) stage.Class {
	if c.Policy {
		return stage.ClassPolicy
	}
	return stage.ClassCapacity
}

// queuePackets is per-queue throughput from driver packet counters, when the driver has them
// (nil when it has none).
func queuePackets(l *model.Link, dir model.Dir) map[int]uint64 {
	var out map[int]uint64
	for _, c := range l.Counters {
		if c.Kind == model.KindPackets && c.Dir == dir && c.Queue >= 0 {
			if out == nil {
				out = map[int]uint64{}
			}
			out[c.Queue] += c.Value
		}
	}
	return out
}

// queuePacketsOf is queuePackets for one queue; ok says the driver counts that queue.
func queuePacketsOf(l *model.Link, dir model.Dir, queue int) (n uint64, ok bool) {
	for i := range l.Counters {
		c := &l.Counters[i]
		if c.Kind == model.KindPackets && c.Dir == dir && c.Queue == queue {
			n, ok = n+c.Value, true
		}
	}
	return n, ok
}

// counterEvidence lists each driver counter of a stage, kind and class that moved.
func (in *input) counterEvidence(l *model.Link, st stage.Stage, k model.Kind, class stage.Class, b base, total uint64) []Evidence {
	var out []Evidence
	for i := range l.Counters {
		c := &l.Counters[i]
		if c.Stage == st && c.Kind == k && classOf(c) == class && c.Value > 0 {
			out = append(out, in.ev(l.Name+" "+c.Name, c.Value, b, total))
		}
	}
	return out
}

// queueSkew describes how drops spread over queues: per-queue ratios where the driver counts
// per-queue packets, and a note when one queue carries most of them. It returns the queue
// when a single queue has all drops.
func (in *input) queueSkew(l *model.Link, drops map[int]uint64, dir model.Dir) ([]Evidence, *int) {
	if len(drops) == 0 {
		return nil, nil
	}
	pk := queuePackets(l, dir)
	qs := make([]int, 0, len(drops))
	var total uint64
	for q, n := range drops {
		if n > 0 {
			qs = append(qs, q)
			total += n
		}
	}
	sort.Ints(qs)
	var out []Evidence
	for _, q := range qs {
		x := Evidence{Counter: fmt.Sprintf("%s %s queue %d drops", l.Name, dir, q), Delta: drops[q], Rate: in.rate(drops[q])}
		if p, ok := pk[q]; ok {
			// the queue's packet counter counts what it delivered: the drops are not in it
			x.Of = fmt.Sprintf("%s %s queue %d packets", l.Name, dir, q)
			x.Ratio = ratioOf(drops[q], p)
		}
		if total > 0 && len(qs) > 1 && float64(drops[q]) > 0.5*float64(total) {
			x.Note = fmt.Sprintf("queue %d has %.0f%% of the drops", q, 100*float64(drops[q])/float64(total))
		}
		out = append(out, x)
	}
	if len(qs) == 1 {
		return out, intp(qs[0])
	}
	return out, nil
}

// rxQueueCount is the number of active receive queues.
func rxQueueCount(l *model.Link) int {
	if c := l.Channels; c != nil && c.Combined+c.Rx > 0 {
		return int(c.Combined + c.Rx)
	}
	if len(l.RxQueues) > 0 {
		return len(l.RxQueues)
	}
	return max(l.NumRxQ, 1)
}

// rxBufferBytes estimates one RX descriptor's buffer: half a page at standard MTU, whole pages
// with XDP (one page per frame) or jumbo frames (docs/rules.md row 2).
func (in *input) rxBufferBytes(l *model.Link) int64 {
	const page = 4096
	if l.MTU > 1500 || in.xdpAttached(l.Name) {
		return (int64(l.MTU) + 512 + page - 1) / page * page
	}
	return 2048
}

// skbBytes estimates the truesize of one queued MTU-sized packet (docs/rules.md row 5: ≈2–4 KiB).
func (in *input) skbBytes() int64 {
	mtu := max(1500, in.maxMTU)
	if mtu <= 1500 {
		return 2304 // 2 KiB data + sk_buff
	}
	return int64(mtu) + 768
}

func (in *input) xdpAttached(link string) bool {
	ip := in.d.InPath
	if ip == nil {
		return false
	}
	if in.foreignXDP(link) {
		return true
	}
	for _, p := range ip.Points {
		if p.Link == link && p.Point == model.PointXDP {
			return true
		}
	}
	return false
}

// virtual reports links without hardware: their "device" counters are software drops.
func virtual(l *model.Link) bool { return l.Kind != "" }
