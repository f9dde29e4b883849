package collect

import (
	"testing"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/model"
)

// The socket lists are kept exactly while their counters stand still, and as copies.
func TestNsPrevKeeps(t *testing.T) {
	snmp := func(udp, listen, retrans uint64) *model.Sample {
		return &model.Sample{SNMP: map[string]uint64{"Udp.InErrors": udp, "TcpExt.ListenDrops": listen, "Tcp.RetransSegs": retrans}}
	}
	var p nsPrev
	kept := func(s *model.Sample) (udp, listen, retrans bool) {
		var env kstat.Env
		udp = p.keep(s, &env)
		return udp, env.Listeners != nil, env.Conns != nil
	}

	// A namespace's first sample: zero counters need no dump, others do.
	if u, l, r := kept(snmp(0, 3, 0)); !u || l || !r {
		t.Errorf("first sample: kept udp %v, listeners %v, retrans %v; want true, false, true", u, l, r)
	}
	first := snmp(0, 3, 0)
	first.UDPSockets = []model.UDPSocket{{Inode: 7, Drops: 0}}
	first.TCPListeners = []model.TCPListener{{Local: "0.0.0.0:80"}}
	first.TCPDropping, first.TCPDroppingOmitted = []model.TCPConn{{Local: "198.18.0.2:5201", Drops: 9}}, 2
	p.record(first)

	// Only the UDP drop counter moved.
	if u, l, r := kept(snmp(5, 3, 0)); u || !l || !r {
		t.Errorf("udp drops: kept udp %v, listeners %v, retrans %v; want false, true, true", u, l, r)
	}
	// A connection dropped at its receive queue or backlog: the connections are dumped again.
	for _, k := range []string{"TcpExt.TCPRcvQDrop", "TcpExt.TCPOFODrop", "TcpExt.TCPBacklogDrop"} {
		s := snmp(0, 3, 0)
		s.SNMP[k] = 1
		if u, l, r := kept(s); !u || !l || r {
			t.Errorf("%s: kept udp %v, listeners %v, connections %v; want true, true, false", k, u, l, r)
		}
	}
	var env kstat.Env
	p.keep(snmp(0, 3, 0), &env)
	if (*env.Listeners)[0].Local != "0.0.0.0:80" {
		t.Fatalf("kept listeners %+v", *env.Listeners)
	}
	(*env.Listeners)[0].Local = "changed"
	if p.listeners[0].Local != "0.0.0.0:80" {
		t.Error("a kept list shares its array with the earlier sample")
	}
	if c := env.Conns; len(c.Dropping) != 1 || c.Dropping[0].Drops != 9 || c.DroppingOmitted != 2 {
		t.Fatalf("kept connections %+v", *c)
	}
	env.Conns.Dropping[0].Drops = 10
	if p.conns.Dropping[0].Drops != 9 {
		t.Error("the kept dropping connections share their array with the earlier sample")
	}

	// Without SNMP nothing is kept, and the next sample reads everything again.
	if u, l, r := kept(&model.Sample{}); u || l || r {
		t.Errorf("no snmp: kept udp %v, listeners %v, retrans %v", u, l, r)
	}
	p.record(&model.Sample{})
	if u, l, r := kept(snmp(0, 3, 0)); !u || l || !r {
		t.Errorf("after a sample without snmp: kept udp %v, listeners %v, retrans %v; want true, false, true", u, l, r)
	}
	var none *nsPrev
	if none.keep(snmp(0, 0, 0), &env) {
		t.Error("a nil nsPrev kept the UDP sockets")
	}
}

// A namespace's links are still only when they and their counters are those of the last
// sample, and that sample had no error.
func TestNsPrevLinksStill(t *testing.T) {
	link := func(idx int, rx uint64) model.Link {
		return model.Link{Index: idx, Stats: model.LinkStats{RxPackets: rx}}
	}
	sample := func(links ...model.Link) *model.Sample {
		return &model.Sample{SNMP: map[string]uint64{"Ip.InReceives": 1}, Links: links,
			Conntrack: map[string]uint64{"drop": 2}, Firewall: &model.Firewall{},
			Neigh: []model.NeighTable{{Name: "arp_cache", NetnsEntries: &model.NeighCount{}}}}
	}
	var p nsPrev
	if p.linksStill(sample(link(1, 5))) {
		t.Error("still before any sample")
	}
	p.record(sample(link(1, 5), link(2, 0)))
	for name, tc := range map[string]struct {
		s    *model.Sample
		want bool
	}{
		"nothing moved":   {sample(link(1, 5), link(2, 0)), true},
		"a link counted":  {sample(link(1, 6), link(2, 0)), false},
		"a link appeared": {sample(link(1, 5), link(2, 0), link(3, 0)), false},
		"a link went":     {sample(link(1, 5)), false},
		"another link":    {sample(link(1, 5), link(4, 0)), false},
	} {
		if got := p.linksStill(tc.s); got != tc.want {
			t.Errorf("%s: still %v, want %v", name, got, tc.want)
		}
	}
	if p.conntrack["drop"] != 2 || p.firewall == nil || p.neigh["arp_cache"] == nil {
		t.Errorf("kept conntrack %v, firewall %v, neighbours %v", p.conntrack, p.firewall, p.neigh)
	}
	failed := sample(link(1, 5), link(2, 0))
	failed.Errors = []string{"conntrack: permission denied"}
	p.record(failed)
	if p.linksStill(sample(link(1, 5), link(2, 0))) {
		t.Error("still after a sample with an error: what failed would stay missing")
	}
}

// A namespace in which nothing moved takes its links' qdiscs and ethtool data from the last
// clean sample, as copies.
func TestNsPrevSettle(t *testing.T) {
	var p nsPrev
	full := model.Link{Index: 2, Name: "eth0", Driver: "veth", Ring: &model.Ring{Rx: 256},
		Channels: &model.Channels{Rx: 1}, Counters: []model.Counter{{Name: "peer_ifindex", Value: 7}},
		Qdiscs: []model.Qdisc{{Kind: "pfifo", Limit: 50}}}
	p.record(&model.Sample{SNMP: map[string]uint64{}, Links: []model.Link{full}})
	dumped := []model.Link{{Index: 2, Name: "eth0", MTU: 9000}}
	p.settle(dumped)
	got := dumped[0]
	if got.MTU != 9000 || got.Driver != "veth" || got.Ring.Rx != 256 || got.Channels.Rx != 1 ||
		len(got.Counters) != 1 || len(got.Qdiscs) != 1 || got.Qdiscs[0].Kind != "pfifo" {
		t.Fatalf("settled link %+v", got)
	}
	got.Qdiscs[0].Kind = "changed"
	if p.links[2].Qdiscs[0].Kind != "pfifo" {
		t.Error("the settled link shares its qdiscs with the kept sample")
	}
}
