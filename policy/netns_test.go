package policy

import (
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// The kfree_skb tracer sees every namespace: drops in another namespace must not become
// findings of the one being examined.
func TestInPathDropsOfOtherNamespacesIgnored(t *testing.T) {
	const own, other = 4026532001, 4026532999
	d := newDelta().netns("web").link("eth0", veth).inPath(&model.InPath{Netns: own, Drops: []model.DropCount{
		{Reason: "NO_SOCKET", Netns: other, Location: "__udp4_lib_rcv+0x4bc", Count: 50000},
		{Reason: "QDISC_DROP", Netns: other, Ifindex: 7, Location: "__dev_queue_xmit+0xee2", Count: 300},
	}}).build()
	r := analyze(t, d, DefaultConfig())
	if len(r.Findings) != 0 {
		t.Fatalf("findings from another namespace's drops: %+v", r.Findings)
	}
	d.InPath.Drops[0].Netns = own
	r = analyze(t, d, DefaultConfig())
	if f := find(r, stage.SocketLookup); f == nil {
		t.Fatalf("own namespace's NO_SOCKET drops not reported: %+v", r.Findings)
	}
}

// The UDP pool's refusals that the probe placed in no namespace (no device, no socket before
// 6.11) are claimed by socket: up to what the namespace's UDP sockets dropped, and not at
// all by a namespace whose sockets dropped nothing.
func TestProtoMemWithoutNamespaceClaimedBySocket(t *testing.T) {
	const own = 4026532001
	b := newDelta().netns("web").sysctl("net.ipv4.udp_mem", "20 45 50").sockstat(56, 0).
		snmp(map[string]uint64{"Udp.InDatagrams": 1000}).inPath(&model.InPath{Netns: own, Drops: []model.DropCount{
		{Reason: "PROTO_MEM", Location: "__udp_enqueue_schedule_skb+0x1a4", Count: 9000},
		{Reason: "PROTO_MEM", Location: "tcp_data_queue+0x7c", Count: 100},
	}})
	if r := analyze(t, b.build(), DefaultConfig()); len(r.Findings) != 0 {
		t.Errorf("drops of no namespace claimed without a dropping socket: %+v", r.Findings)
	}
	r := analyze(t, b.udpSockets(udpSock("198.18.0.2:9000", 11, 6000, 4194304)).build(), DefaultConfig())
	f := find(r, stage.UDPMem)
	if f == nil || len(r.Findings) != 1 || len(f.Reasons) != 1 || f.Reasons[0].Count != 6000 {
		t.Errorf("findings %+v", r.Findings)
	}
}

func TestAttributionIsReasonsOverCounters(t *testing.T) {
	const own = 4026532001
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 9000, "Udp.RcvbufErrors": 1000, "Udp.InErrors": 1000}).
		inPath(&model.InPath{Netns: own, Drops: []model.DropCount{
			{Reason: "SOCKET_RCVBUFF", Netns: own, Location: "__udp_enqueue_schedule_skb+0x2b0", Count: 950},
		}}).build()
	r := analyze(t, d, DefaultConfig())
	if r.Attribution == nil || *r.Attribution < 0.949 || *r.Attribution > 0.951 {
		t.Fatalf("attribution = %v, want 0.95", r.Attribution)
	}
	if r := analyze(t, newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 9000, "Udp.RcvbufErrors": 1000}).build(), DefaultConfig()); r.Attribution != nil {
		t.Errorf("attribution without in-path data: %v", *r.Attribution)
	}
}
