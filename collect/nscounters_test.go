package collect

import (
	"reflect"
	"testing"
	"time"

	"github.com/nettune/nettune/collect/kstat"
	"github.com/nettune/nettune/collect/netdev"
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
	p.record(first, false, true)

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
	p.record(&model.Sample{}, false, true)
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
	p.record(sample(link(1, 5), link(2, 0)), false, true)
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
	p.record(failed, false, true)
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
	p.record(&model.Sample{SNMP: map[string]uint64{}, Links: []model.Link{full}}, false, true)
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

// A namespace reads its links' counters alone only after a clean sample in which nothing
// moved, within the period its links' attributes are kept; the counters give back the links
// of that sample while every one is as it was.
func TestNsPrevStatsStill(t *testing.T) {
	t0 := time.Unix(1000, 0)
	peer := int32(3)
	lo := model.Link{Index: 1, Name: "lo", MTU: 65536, OperUp: true, Stats: model.LinkStats{RxPackets: 4}}
	eth := model.Link{Index: 2, Name: "eth0", Kind: "veth", MTU: 1500, NumRxQ: 2, NumTxQ: 2, PeerIfindex: 9,
		PeerNetnsID: &peer, Driver: "veth", Qdiscs: []model.Qdisc{{Kind: "noqueue"}}}
	sample := &model.Sample{Time: t0, SNMP: map[string]uint64{}, Links: []model.Link{lo, eth}}
	var p nsPrev
	if p.attrsFresh(t0, time.Hour) {
		t.Error("fresh before any sample")
	}
	p.record(sample, false, true)
	if p.attrsFresh(t0.Add(time.Second), time.Hour) {
		t.Error("fresh after a sample in which something moved")
	}
	p.record(sample, true, true)
	for name, tc := range map[string]struct {
		at    time.Duration
		every time.Duration
		want  bool
	}{
		"within the period": {time.Minute, time.Hour, true},
		"past the period":   {time.Hour, time.Hour, false},
		"no period":         {time.Second, 0, false},
	} {
		if got := p.attrsFresh(t0.Add(tc.at), tc.every); got != tc.want {
			t.Errorf("%s: fresh %v, want %v", name, got, tc.want)
		}
	}
	p.record(&model.Sample{Time: t0.Add(time.Minute), SNMP: map[string]uint64{}, Links: sample.Links}, true, false)
	if p.attrsFresh(t0.Add(time.Hour), time.Hour) {
		t.Error("a sample that read counters alone renewed the links' attributes")
	}

	counters := func(rx uint64, extra ...netdev.LinkCounters) []netdev.LinkCounters {
		return append([]netdev.LinkCounters{{Index: 1, Stats: model.LinkStats{RxPackets: rx}}, {Index: 2}}, extra...)
	}
	links, ok := p.statsStill(counters(4))
	if !ok || len(links) != 2 || !reflect.DeepEqual(links[0], lo) || !reflect.DeepEqual(links[1], eth) {
		t.Fatalf("still links %+v, %v", links, ok)
	}
	for name, c := range map[string][]netdev.LinkCounters{
		"a link counted":  counters(5),
		"a link appeared": counters(4, netdev.LinkCounters{Index: 7}),
		"another link":    {{Index: 1, Stats: model.LinkStats{RxPackets: 4}}, {Index: 8}},
	} {
		if _, ok := p.statsStill(c); ok {
			t.Errorf("%s: still", name)
		}
	}
	failed := &model.Sample{Time: t0, SNMP: map[string]uint64{}, Links: sample.Links, Errors: []string{"nft: EPERM"}}
	p.record(failed, true, true)
	if _, ok := p.statsStill(counters(4)); ok || p.attrsFresh(t0.Add(time.Second), time.Hour) {
		t.Error("still after a sample with an error")
	}
}
