package policy

import (
	"testing"

	"github.com/nettune/nettune/policy/stage"
	"github.com/nettune/nettune/tuner/sample"
)

// The kfree_skb tracer sees every namespace: drops in another namespace must not become
// findings of the one being examined.
func TestInPathDropsOfOtherNamespacesIgnored(t *testing.T) {
	const own, other = 4026532001, 4026532999
	d := newDelta().netns("web").link("eth0", veth).inPath(&sample.InPath{Netns: own, Drops: []sample.DropCount{
		{Reason: "NO_SOCKET", Netns: other, Location: "__udp4_lib_rcv+0x4bc", Count: 50000},
		{Reason: "QDISC_DROP", Netns: other, Ifindex: 7, Location: "__dev_queue_xmit+0xee2", Count: 300},
	}}).build()
	r := Analyze(d, DefaultConfig())
	if len(r.Findings) != 0 {
		t.Fatalf("findings from another namespace's drops: %+v", r.Findings)
	}
	d.InPath.Drops[0].Netns = own
	r = Analyze(d, DefaultConfig())
	if f := find(r, stage.NoListener); f == nil {
		t.Fatalf("own namespace's NO_SOCKET drops not reported: %+v", r.Findings)
	}
	checkInvariants(t, r)
}
