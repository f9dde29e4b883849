package netdev

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"
	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// openIn opens a Reader inside ns; it is closed when the test ends.
func openIn(t *testing.T, ns *lab.NS) *Reader {
	t.Helper()
	var r *Reader
	ns.Do(t, func() error {
		var err error
		r, err = Open()
		return err
	})
	t.Cleanup(func() { r.Close() })
	return r
}

// link reads one link through r; a PartialError fails the test.
func link(t *testing.T, r *Reader, name string) model.Link {
	t.Helper()
	ls, err := r.Links([]string{name})
	if err != nil {
		t.Fatalf("links %s: %v", name, err)
	}
	if len(ls) != 1 || ls[0].Name != name {
		t.Fatalf("links %s: got %d links", name, len(ls))
	}
	return ls[0]
}

// blast sends UDP datagrams from ns to addr from several goroutines until n are sent or the
// time is up, and returns how many were sent. Send errors (ENOBUFS from a full qdisc) are
// expected and counted out.
func blast(t *testing.T, ns *lab.NS, addr string, n int, d time.Duration) int {
	t.Helper()
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ns.Do(t, func() error {
				c, err := net.Dial("udp4", addr)
				if err != nil {
					return err
				}
				defer c.Close()
				payload := make([]byte, 64)
				deadline := time.Now().Add(d)
				for i := 0; i < n/4 && time.Now().Before(deadline); i++ {
					if _, err := c.Write(payload); err == nil {
						mu.Lock()
						sent++
						mu.Unlock()
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	return sent
}

func TestLinksVeth(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 4})
	ra, rb := openIn(t, a), openIn(t, b)

	l := link(t, ra, v.AName)
	if l.Driver != "veth" || l.Kind != "veth" || l.NumRxQ != 4 || l.NumTxQ != 4 || !l.OperUp ||
		l.MTU != 1500 || l.TxQueueLen != 1000 {
		t.Fatalf("link %+v", l)
	}
	if l.Ring != nil {
		t.Errorf("veth ring = %+v, want nil (no ring ops)", l.Ring)
	}
	switch {
	case l.Channels == nil && kernelBefore(t, 6, 1):
		t.Log("veth channels unreadable on this kernel (seen on 5.10)")
	case l.Channels == nil || l.Channels.Rx != 4 || l.Channels.Tx != 4 || l.Channels.MaxRx != 4:
		t.Errorf("channels = %+v", l.Channels)
	}
	queues := map[int]bool{}
	for _, c := range l.Counters {
		if c.Name == fmt.Sprintf("rx_queue_%d_drops", c.Queue) {
			queues[c.Queue] = true
		}
	}
	if len(queues) != 4 {
		t.Errorf("rx_queue_N_drops for queues %v, want 0..3", queues)
	}

	before := link(t, rb, v.BName)
	sent := blast(t, a, v.BAddr+":9", 2000, 5*time.Second)
	afterA, afterB := link(t, ra, v.AName), link(t, rb, v.BName)
	if d := afterA.Stats.TxPackets - l.Stats.TxPackets; d < uint64(sent) {
		t.Errorf("%s tx_packets +%d, sent %d", v.AName, d, sent)
	}
	if d := afterB.Stats.RxPackets - before.Stats.RxPackets; d < uint64(sent)*9/10 {
		t.Errorf("%s rx_packets +%d, sent %d", v.BName, d, sent)
	}
}

// A pfifo with limit 5 on the sending veth overflows under a multi-sender burst: the drops
// appear as qdisc drops, agree with go-tc's legacy decoding, and the queue is not counted
// as an mq child.
func TestLinksPfifoDrops(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 4})
	r := openIn(t, a)
	ifindex := uint32(link(t, r, v.AName).Index)

	a.Do(t, func() error {
		tcnl, err := tc.Open(&tc.Config{})
		if err != nil {
			return err
		}
		defer tcnl.Close()
		return tcnl.Qdisc().Add(&tc.Object{
			Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: ifindex, Handle: 0x10000, Parent: tc.HandleRoot},
			Attribute: tc.Attribute{Kind: "pfifo", Pfifo: &tc.FifoOpt{Limit: 5}},
		})
	})

	var q model.Qdisc
	for try := 0; try < 5 && q.Drops == 0; try++ {
		blast(t, a, v.BAddr+":9", 200000, 2*time.Second)
		qs := link(t, r, v.AName).Qdiscs
		if len(qs) != 1 {
			t.Fatalf("qdiscs %+v, want one pfifo", qs)
		}
		q = qs[0]
	}
	t.Logf("pfifo after bursts: %+v", q)
	if q.Kind != "pfifo" || q.Handle != "1:" || q.Parent != "root" || !q.Root || q.Limit != 5 {
		t.Fatalf("qdisc %+v", q)
	}
	if q.Drops == 0 {
		t.Fatalf("no qdisc drops after bursts: %+v", q)
	}
	if q.Packets == 0 || q.Bytes == 0 {
		t.Errorf("no packets counted: %+v", q)
	}

	// go-tc's legacy TCA_STATS view of the same qdisc (32-bit, no requeues). The two reads
	// are two dumps: a packet the host sends between them (IPv6 neighbour discovery on the
	// fresh veth) is in the second only, so read until a pair agrees.
	var tcDrops, tcPackets uint32
	var cur model.Qdisc
	for attempt := 0; attempt < 10; attempt++ {
		a.Do(t, func() error {
			tcnl, err := tc.Open(&tc.Config{})
			if err != nil {
				return err
			}
			defer tcnl.Close()
			objs, err := tcnl.Qdisc().Get()
			if err != nil {
				return err
			}
			for _, o := range objs {
				if o.Ifindex == ifindex && o.Stats != nil {
					tcDrops, tcPackets = o.Stats.Drops, o.Stats.Packets
					return nil
				}
			}
			return errors.New("go-tc: no qdisc on the veth")
		})
		cur = link(t, r, v.AName).Qdiscs[0]
		if uint64(tcDrops) == cur.Drops && uint64(tcPackets) == cur.Packets {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("go-tc drops %d packets %d, reader %d %d", tcDrops, tcPackets, cur.Drops, cur.Packets)
}

// mq's root row sums its children; both rows are kept and told apart by Root/Parent.
// clsact appears with its hook as parent.
func TestLinksMqAndClsact(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 4})
	h := a.Handle(t)
	nl, err := h.LinkByName(v.AName)
	if err != nil {
		t.Fatal(err)
	}
	mq := &netlink.GenericQdisc{QdiscType: "mq", QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: nl.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}}
	if err := h.QdiscAdd(mq); err != nil {
		t.Skipf("mq qdisc: %v", err)
	}
	a.Do(t, func() error {
		tcnl, err := tc.Open(&tc.Config{})
		if err != nil {
			return err
		}
		defer tcnl.Close()
		return tcnl.Qdisc().Add(&tc.Object{
			Msg:       tc.Msg{Family: unix.AF_UNSPEC, Ifindex: uint32(nl.Attrs().Index), Handle: 0xFFFF0000, Parent: tc.HandleIngress},
			Attribute: tc.Attribute{Kind: "clsact"},
		})
	})
	r := openIn(t, a)
	blast(t, a, v.BAddr+":9", 400, 2*time.Second)

	// The kernel sums mq's children when it dumps the root, and dumps the children after
	// it: a packet the host sends in between (IPv6 neighbour discovery, say) lands in the
	// children only. Read until one dump had no packet in that window.
	var root model.Qdisc
	var sum uint64
	for attempt := 0; ; attempt++ {
		root, sum = mqRead(t, link(t, r, v.AName))
		if root.Packets == sum || attempt == 9 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if root.Packets == 0 || root.Packets != sum {
		t.Errorf("mq root packets %d, children sum %d", root.Packets, sum)
	}
}

// mqRead checks the shape of l's qdiscs (an mq root 1: with four children 1:1..1:4 and a
// clsact) and returns the root and the sum of its children's packets.
func mqRead(t *testing.T, l model.Link) (model.Qdisc, uint64) {
	t.Helper()
	var root *model.Qdisc
	var children []model.Qdisc
	var clsact bool
	for _, q := range l.Qdiscs {
		switch {
		case q.Kind == "mq":
			root = &q
		case q.Kind == "clsact":
			clsact = q.Parent == "clsact" && q.Handle == "ffff:" && !q.Root
		default:
			children = append(children, q)
		}
	}
	if root == nil || !root.Root || root.Parent != "root" || root.Handle != "1:" {
		t.Fatalf("mq root %+v", root)
	}
	if !clsact {
		t.Error("no clsact row with parent clsact")
	}
	if len(children) != 4 {
		t.Fatalf("%d mq children, want 4", len(children))
	}
	var sum uint64
	parents := map[string]bool{}
	for _, c := range children {
		if c.Root {
			t.Errorf("child marked root: %+v", c)
		}
		parents[c.Parent] = true
		if c.Kind == "pfifo_fast" && c.Limit != 1000 {
			t.Errorf("pfifo_fast limit %d, want txqueuelen 1000", c.Limit)
		}
		sum += c.Packets
	}
	if !parents["1:1"] || !parents["1:2"] || !parents["1:3"] || !parents["1:4"] {
		t.Errorf("child parents %v, want 1:1..1:4", parents)
	}
	return *root, sum
}

func TestLinksUnknown(t *testing.T) {
	a := lab.NewNS(t, "ndA")
	r := openIn(t, a)
	if _, err := r.Links([]string{"lo", "nosuch0"}); !errors.Is(err, ErrNoLink) {
		t.Fatalf("err = %v, want ErrNoLink", err)
	}
}

// A Reader keeps to the namespace it was opened in, whichever thread uses it later.
func TestReaderNetnsIsolation(t *testing.T) {
	a, b, c := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB"), lab.NewNS(t, "ndC")
	ab := lab.NewVeth(t, a, b, lab.VethOpts{})
	cc := lab.NewVeth(t, c, c, lab.VethOpts{}) // both ends in c
	r := openIn(t, a)

	ls, err := r.Links(nil) // called from the test's own namespace
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range ls {
		names[l.Name] = true
	}
	if !names["lo"] || !names[ab.AName] || names[ab.BName] || names[cc.AName] || names[cc.BName] {
		t.Fatalf("reader in %s sees %v", a.Name, names)
	}
	if len(ls) != 2 {
		t.Fatalf("%d links, want lo and %s", len(ls), ab.AName)
	}
	if _, err := r.Links([]string{ab.BName}); !errors.Is(err, ErrNoLink) {
		t.Fatalf("peer in another netns: err = %v, want ErrNoLink", err)
	}
}

// Ethtool data that stays empty is reported in a PartialError next to complete links; a
// link that vanished before its ethtool read is left out, or is ErrNoLink when named.
func TestLinksPartial(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	r := openIn(t, a)
	r.ethtool = &fakeEthtool{
		info:     []ethtool.DrvInfo{{Driver: "veth", NStats: 1}},
		statsErr: fmt.Errorf("%w: statistics count changed", ErrUnavailable),
		ring:     []ethtool.Ring{ring4k},
		ch:       []ethtool.Channels{ch8},
	}
	ls, err := r.Links(nil)
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Errs) != 2 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want a PartialError for lo and %s", err, v.AName)
	}
	if len(ls) != 2 || ls[1].Name != v.AName || ls[1].Driver != "veth" ||
		ls[1].Counters != nil || ls[1].Channels == nil || ls[1].Index <= ls[0].Index {
		t.Fatalf("links %+v", ls)
	}

	r.ethtool = &fakeEthtool{infoErr: unix.ENODEV}
	if ls, err := r.Links(nil); err != nil || len(ls) != 0 {
		t.Fatalf("vanished links: %d links, err %v", len(ls), err)
	}
	if _, err := r.Links([]string{v.AName}); !errors.Is(err, ErrNoLink) {
		t.Fatalf("vanished named link: err = %v, want ErrNoLink", err)
	}
}

// kernelBefore reports whether the running kernel is older than major.minor.
func kernelBefore(t *testing.T, major, minor int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(string(b), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", b, err)
	}
	return ma < major || ma == major && mi < minor
}

// Each end of a veth pair across two namespaces names the other: its ifindex, and the nsid
// under which its own namespace knows the peer's (the id `ip netns list-id` shows, which
// the kernel assigns when the pair is made).
func TestLinksVethPeer(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	la, lb := link(t, openIn(t, a), v.AName), link(t, openIn(t, b), v.BName)
	if la.PeerIfindex != lb.Index || lb.PeerIfindex != la.Index || la.PeerNetnsID == nil || lb.PeerNetnsID == nil {
		t.Fatalf("%s: index %d peer %d nsid %v; %s: index %d peer %d nsid %v",
			v.AName, la.Index, la.PeerIfindex, la.PeerNetnsID, v.BName, lb.Index, lb.PeerIfindex, lb.PeerNetnsID)
	}
	for _, c := range []struct {
		in, of *lab.NS
		got    int32
	}{{a, b, *la.PeerNetnsID}, {b, a, *lb.PeerNetnsID}} {
		f, err := os.Open(c.of.Path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.in.Handle(t).GetNetNsIdByFd(int(f.Fd()))
		f.Close()
		if err != nil || int32(want) != c.got {
			t.Errorf("in %s, the nsid of %s is %d (%v); the link says %d", c.in.Name, c.of.Name, want, err, c.got)
		}
	}
	// A veth whose ends share a namespace has no nsid.
	c := lab.NewNS(t, "ndC")
	names := lab.ManyVeths(t, c, 1, false)
	rc := openIn(t, c)
	l0, l1 := link(t, rc, names[0]), link(t, rc, names[1])
	if l0.PeerIfindex != l1.Index || l1.PeerIfindex != l0.Index || l0.PeerNetnsID != nil || l1.PeerNetnsID != nil {
		t.Errorf("same-namespace pair: %s index %d peer %d nsid %v; %s index %d peer %d nsid %v",
			l0.Name, l0.Index, l0.PeerIfindex, l0.PeerNetnsID, l1.Name, l1.Index, l1.PeerIfindex, l1.PeerNetnsID)
	}
}

// Stats gives every link of the namespace, in ifindex order, with the counters a link dump
// gives: read twice around a dump with no traffic in between, and after traffic.
func TestStatsAreTheDumpsCounters(t *testing.T) {
	a, b := lab.NewNS(t, "ndA"), lab.NewNS(t, "ndB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 2})
	r := openIn(t, a)
	n := blast(t, a, v.BAddr+":9", 2000, 5*time.Second)
	// IPv6 neighbour discovery on the fresh veth may count a packet between two reads:
	// read until a stats read and a dump agree.
	var stats []LinkCounters
	var links []model.Link
	for try := 0; try < 10; try++ {
		var err error
		if stats, err = r.Stats(); err != nil {
			t.Fatal(err)
		}
		if links, err = r.Dump(nil); err != nil {
			t.Fatal(err)
		}
		if sameCounters(stats, links) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sameCounters(stats, links) {
		t.Fatalf("stats %+v\nlinks %+v", stats, links)
	}
	sent := false
	for _, l := range links {
		sent = sent || l.Name == v.AName && l.Stats.TxPackets >= uint64(n)
	}
	if len(stats) != 2 || !sent || n == 0 {
		t.Errorf("want lo and %s with the %d datagrams sent: %+v", v.AName, n, links)
	}
}

func sameCounters(stats []LinkCounters, links []model.Link) bool {
	if len(stats) != len(links) {
		return false
	}
	for i, c := range stats {
		if c.Index != links[i].Index || c.Stats != links[i].Stats {
			return false
		}
	}
	return true
}
