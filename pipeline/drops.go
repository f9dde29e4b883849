package pipeline

import (
	"sort"
	"time"

	"github.com/nettune/nettune/model"
)

// DropRow is one (reason, location, interface, netns) with its count in an interval.
type DropRow struct {
	Reason   string `json:"reason"`
	Location string `json:"location"`
	Ifindex  int    `json:"ifindex"`
	Link     string `json:"link,omitempty"`
	Netns    uint64 `json:"netns"`
	// NetnsName names the namespace for a person ("host", an ip netns name, "pid 4242 nginx");
	// the caller that discovered the namespaces sets it.
	NetnsName string `json:"netns_name,omitempty"`
	// Pod ("NAMESPACE/NAME") and Containers (names, or short IDs where no source names
	// them; the pod's sandbox left out) own the namespace, where known.
	Pod        string   `json:"pod,omitempty"`
	Containers []string `json:"containers,omitempty"`
	Count      uint64   `json:"count"`
	Rate       float64  `json:"rate"`
}

// DropFrame is one interval of the live drops view.
type DropFrame struct {
	Time            time.Time `json:"time"`
	IntervalSeconds float64   `json:"interval_seconds"`
	Drops           []DropRow `json:"drops"` // most first
}

// Drops is the frame of the interval of length d that ends at now: the kfree_skb counts of
// cur that grew since prev (both cumulative, as bpf.Probes.Drops returns them).
func Drops(prev, cur []model.DropCount, now time.Time, d time.Duration) DropFrame {
	type key struct {
		reason, loc string
		ifx         int
		ns          uint64
	}
	before := make(map[key]uint64, len(prev))
	for _, x := range prev {
		before[key{x.Reason, x.Location, x.Ifindex, x.Netns}] = x.Count
	}
	rows := []DropRow{}
	for _, x := range cur {
		b := before[key{x.Reason, x.Location, x.Ifindex, x.Netns}]
		if x.Count <= b {
			continue
		}
		n := x.Count - b
		rows = append(rows, DropRow{Reason: x.Reason, Location: x.Location, Ifindex: x.Ifindex, Link: x.Link,
			Netns: x.Netns, Count: n, Rate: float64(n) / d.Seconds()})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Count != rows[j].Count {
			return rows[i].Count > rows[j].Count
		}
		return rows[i].Reason+rows[i].Location < rows[j].Reason+rows[j].Location
	})
	return DropFrame{Time: now, IntervalSeconds: d.Seconds(), Drops: rows}
}
