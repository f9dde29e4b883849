package netdev

import (
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/internal/nldump"
)

// replay passes every answer of a captured dump (testdata/rtnl-6.18, request seq 1) to fn.
func replay(t *testing.T, path string, fn func([]byte) error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	done, _, err := nldump.Answers(b, 1, fn)
	if !done || err != nil {
		t.Fatalf("%s: done %v, %v", path, done, err)
	}
}

// The captured dumps are what 6.18 sends for the links and qdiscs set up in the README: va's
// peer is in another namespace (IFLA_LINK_NETNSID), the other veths' peers are beside them.
func TestParseCapturedLinks(t *testing.T) {
	var got []string
	replay(t, "testdata/rtnl-6.18/links.bin", func(m []byte) error {
		l, err := parseLink(m, interner{})
		peer := ""
		if l.PeerIfindex != 0 {
			peer = fmt.Sprintf(" peer=%d", l.PeerIfindex)
			if l.PeerNetnsID != nil {
				peer += fmt.Sprintf(" nsid=%d", *l.PeerNetnsID)
			}
		}
		got = append(got, fmt.Sprintf("%d %s %q up=%v mtu=%d txqlen=%d rxq=%d txq=%d rx=%d tx=%d txdrop=%d%s",
			l.Index, l.Name, l.Kind, l.OperUp, l.MTU, l.TxQueueLen, l.NumRxQ, l.NumTxQ,
			l.Stats.RxPackets, l.Stats.TxPackets, l.Stats.TxDropped, peer))
		return err
	})
	want := []string{
		`1 lo "" up=true mtu=65536 txqlen=1000 rxq=1 txq=1 rx=3000 tx=3000 txdrop=0`,
		`2 va "veth" up=true mtu=1500 txqlen=1000 rxq=2 txq=4 rx=7 tx=43 txdrop=0 peer=2 nsid=0`,
		`3 vd "veth" up=false mtu=1500 txqlen=1000 rxq=2 txq=2 rx=0 tx=0 txdrop=0 peer=4`,
		`4 vc "veth" up=false mtu=1500 txqlen=1000 rxq=4 txq=4 rx=0 tx=0 txdrop=2 peer=3`,
		`5 vh "veth" up=true mtu=1500 txqlen=1000 rxq=2 txq=2 rx=3 tx=1 txdrop=0 peer=6`,
		`6 vg "veth" up=true mtu=1500 txqlen=1000 rxq=2 txq=2 rx=1 tx=3 txdrop=0 peer=5`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("links (-want +got):\n%s", d)
	}
}

// The captured stats dump is 6.18's answer for the namespace in testdata/README.md: lo with
// 3000 datagrams each way, va with its peer elsewhere, and a veth pair vc/vd without traffic.
func TestParseCapturedStats(t *testing.T) {
	var got []string
	replay(t, "testdata/rtnl-6.18/stats.bin", func(m []byte) error {
		c, err := parseStats(m)
		got = append(got, fmt.Sprintf("%d rx=%d/%dB tx=%d/%dB drops=%d/%d",
			c.Index, c.Stats.RxPackets, c.Stats.RxBytes, c.Stats.TxPackets, c.Stats.TxBytes, c.Stats.RxDropped, c.Stats.TxDropped))
		return err
	})
	want := []string{ // as `ip -s link` printed them just before
		"1 rx=6000/5412000B tx=6000/5412000B drops=0/0",
		"2 rx=8/3672B tx=304/372908B drops=0/0",
		"3 rx=0/0B tx=0/0B drops=0/0",
		"4 rx=0/0B tx=0/0B drops=0/0",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stats (-want +got):\n%s", d)
	}
}

func TestParseCapturedQdiscs(t *testing.T) {
	var got []string
	replay(t, "testdata/rtnl-6.18/qdiscs.bin", func(m []byte) error {
		i, q, err := parseQdisc(m, interner{})
		got = append(got, fmt.Sprintf("%d %s %s parent=%s limit=%d/%db rate=%d pkts=%d bytes=%d drops=%d over=%d",
			i, q.Kind, q.Handle, q.Parent, q.Limit, q.LimitBytes, q.Rate, q.Packets, q.Bytes, q.Drops, q.Overlimits))
		return err
	})
	want := []string{
		"1 pfifo 5: parent=root limit=500/0b rate=0 pkts=3000 bytes=2748000 drops=0 over=0",
		"2 tbf 8001: parent=root limit=0/30000b rate=1000000 pkts=43 bytes=48746 drops=2955 over=3031",
		"2 clsact ffff: parent=clsact limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"3 noqueue  parent=root limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"4 mq 1: parent=root limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"4 pfifo_fast  parent=1:4 limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"4 pfifo_fast  parent=1:3 limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"4 pfifo_fast  parent=1:2 limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		"4 pfifo_fast  parent=1:1 limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
		// 50gbit does not fit tc_ratespec's u32: TCA_TBF_RATE64.
		"5 tbf 3: parent=root limit=0/63548576b rate=6250000000 pkts=0 bytes=0 drops=0 over=0",
		"6 bfifo 2: parent=root limit=0/15000b rate=0 pkts=2 bytes=176 drops=0 over=0",
		"6 ingress ffff: parent=ingress limit=0/0b rate=0 pkts=0 bytes=0 drops=0 over=0",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("qdiscs (-want +got):\n%s", d)
	}
}
