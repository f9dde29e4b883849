package bpf

import (
	"net"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// pair makes two namespaces joined by a veth with IPv6 off, so router solicitations and
// MLD reports do not add packets to the counts.
func pair(t *testing.T, queues int) (a, b *lab.NS, v *lab.Veth) {
	t.Helper()
	a, b = lab.NewNS(t, "bpfA"), lab.NewNS(t, "bpfB")
	for _, ns := range []*lab.NS{a, b} {
		lab.SetSysctl(t, ns, "net.ipv6.conf.default.disable_ipv6", "1")
		lab.SetSysctl(t, ns, "net.ipv6.conf.all.disable_ipv6", "1")
	}
	return a, b, lab.NewVeth(t, a, b, lab.VethOpts{Queues: queues})
}

// sendUDP sends perFlow datagrams of size bytes on each of flows unconnected sockets (one
// source port each, so the TX queue hash spreads them) from namespace ns.
func sendUDP(t testing.TB, ns *lab.NS, dst string, port, flows, perFlow, size int) {
	t.Helper()
	addr := &net.UDPAddr{IP: net.ParseIP(dst), Port: port}
	payload := make([]byte, size)
	ns.Do(t, func() error {
		for range flows {
			c, err := net.ListenPacket("udp4", ":0")
			if err != nil {
				return err
			}
			for range perFlow {
				if _, err := c.WriteTo(payload, addr); err != nil {
					c.Close()
					return err
				}
			}
			c.Close()
		}
		return nil
	})
}

func attach(t testing.TB, o Options) *Probes {
	t.Helper()
	p, err := Attach(o)
	if err != nil {
		t.Fatalf("attach: %+v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	t.Logf("notes: %v", p.Notes)
	return p
}

func snap(t testing.TB, p *Probes) *model.Sample {
	t.Helper()
	in, err := p.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return &model.Sample{Time: time.Now(), InPath: in}
}

func diff(t testing.TB, prev, cur *model.Sample) *model.InPath {
	t.Helper()
	d, err := model.Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	return d.InPath
}

// perQueue returns packets by queue at one point of one link.
func perQueue(in *model.InPath, pt model.Point, link string) map[int]uint64 {
	out := map[int]uint64{}
	for _, x := range in.Points {
		if x.Point == pt && x.Link == link {
			out[x.Queue] += x.Packets
		}
	}
	return out
}

func total(m map[int]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}

func ifindex(name string) (int, error) {
	l, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return l.Index, nil
}

// xdpProgID is the ID of the XDP program attached to a link, 0 for none.
func xdpProgID(t testing.TB, ns *lab.NS, name string) uint32 {
	t.Helper()
	l, err := ns.Handle(t).LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}
