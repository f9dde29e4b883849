package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// unnamedDrops are kfree_skb events of a kernel without drop reasons (5.10): the first two
// locations are where a closed UDP port and a full receive buffer free packets there.
func unnamedDrops(n int) []model.DropCount {
	out := []model.DropCount{
		{Reason: model.ReasonUnavailable, Location: "__udp4_lib_rcv+0x4bc", Count: 9000},
		{Reason: model.ReasonUnavailable, Location: "udp_queue_rcv_one_skb+0x1d5", Link: "eth0", Count: 800},
	}
	for i := range n {
		out = append(out, model.DropCount{Reason: model.ReasonUnavailable, Location: fmt.Sprintf("f%d+0x1", i), Count: 10})
	}
	return out
}

// Without reasons kfree_skb also counts frees that are not drops: with quiet counters, no
// location may become a finding, and the locations are still reported.
func TestDropsWithoutReasonsMakeNoFinding(t *testing.T) {
	d := newDelta().link("eth0", veth).snmp(map[string]uint64{"Udp.InDatagrams": 1e5}).
		inPath(&model.InPath{Drops: unnamedDrops(0)}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 0 || r.Attribution != nil {
		t.Fatalf("findings from drops without a reason: %+v", r.Findings)
	}
	want := "drop reasons (this kernel has none; kfree_skb locations, some of them not drops): __udp4_lib_rcv+0x4bc 900.0/s, udp_queue_rcv_one_skb+0x1d5 80.0/s"
	if len(r.Missing) != 1 || r.Missing[0] != want {
		t.Errorf("missing %q, want %q", r.Missing, want)
	}
}

// The counters give the verdict; drops without a reason neither confirm nor change it.
func TestDropsWithoutReasonsLeaveCounterVerdict(t *testing.T) {
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 9000, "Udp.RcvbufErrors": 1000, "Udp.InErrors": 1000}).
		inPath(&model.InPath{Drops: unnamedDrops(maxLocations)}).build()
	r := analyze(t, d, DefaultConfig())
	f := find(r, stage.UDPRcvbuf)
	if len(r.Findings) != 1 || f == nil || f.Class != stage.ClassCapacity || len(f.Reasons) != 0 || f.DropRate != 100 {
		t.Fatalf("want the counter finding alone, got %+v", r.Findings)
	}
	if r.Attribution != nil {
		t.Errorf("attribution %v from drops without a reason", *r.Attribution)
	}
	if len(r.Missing) != 1 || !strings.HasSuffix(r.Missing[0], fmt.Sprintf(", %d more", 2)) {
		t.Errorf("missing %q: want the top %d locations and a count of the rest", r.Missing, maxLocations)
	}
}
