package model

import "testing"

func TestInPathForNetns(t *testing.T) {
	ip := &InPath{
		Points: []PointCount{{Point: PointTCIngress, Netns: 1, Ifindex: 2, Link: "eth0", Packets: 10},
			{Point: PointTCIngress, Netns: 7, Ifindex: 2, Link: "eth0", Packets: 20}},
		Drops: []DropCount{{Reason: "NO_SOCKET", Netns: 1, Count: 3}, {Reason: "PROTO_MEM", Netns: 7, Count: 4},
			{Reason: "PROTO_MEM", Location: "__udp_enqueue_schedule_skb+0x1", Count: 5}},
		Foreign: []ForeignProg{{Netns: 7, Link: "eth0", Hook: "xdp", ID: 9}},
		Coverage: &Coverage{Asked: 3, Watched: 2, Gaps: []Gap{{Netns: 7, Link: "eth1", Reason: GapNotFound}},
			PerNetns: []NetnsCoverage{{Netns: 1, Asked: 1, Watched: 1}, {Netns: 7, Asked: 2, Watched: 1}}},
	}
	v := ip.ForNetns(7)
	if v.Netns != 7 || len(v.Points) != 1 || v.Points[0].Packets != 20 || len(v.Foreign) != 1 {
		t.Errorf("view of 7: netns %d points %+v foreign %+v", v.Netns, v.Points, v.Foreign)
	}
	if len(v.Drops) != 2 || v.Drops[0].Netns != 7 || v.Drops[1].Netns != 0 {
		t.Errorf("drops %+v: the view keeps its namespace's drops and those of no namespace known", v.Drops)
	}
	if c := v.Coverage; c.Asked != 2 || c.Watched != 1 || len(c.Gaps) != 1 || !c.Partial() {
		t.Errorf("coverage of 7: %+v, want 1 of 2 with its gap", c)
	}
	if c := ip.ForNetns(1).Coverage; c.Asked != 1 || c.Watched != 1 || c.Partial() {
		t.Errorf("coverage of 1: %+v, want complete", c)
	}
	if len(ip.Points) != 2 || ip.Coverage.Asked != 3 {
		t.Error("ForNetns changed the whole view")
	}
	var none *Coverage
	if none.Partial() {
		t.Error("no coverage (drops only) reads as partial")
	}
}
