package bpf

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
)

// TestTargetsAcrossNamespaces: one probe set counts on links of three namespaces. Fresh
// namespaces number their links from 1, so the veths usually share an ifindex: counts must
// go to the right (netns, link) all the same, with one program copy for every namespace and
// with the per-namespace copies of kernels that refuse the shared one.
func TestTargetsAcrossNamespaces(t *testing.T) {
	for _, perNetns := range []bool{false, true} {
		t.Run(fmt.Sprintf("per-netns=%v", perNetns), func(t *testing.T) {
			a, b, v1 := pair(t, 1)
			_, d, v2 := pair(t, 1)
			ino := map[*lab.NS]uint64{}
			for _, ns := range []*lab.NS{a, b, d} {
				i, err := netnsInode(ns.Name)
				if err != nil {
					t.Fatal(err)
				}
				ino[ns] = i
			}
			p := attach(t, Options{Targets: []Target{
				{Netns: b.Name, Links: []string{v1.BName}},
				{Netns: d.Name, Links: []string{v2.BName, "nosuch0"}},
				{Netns: a.Name}, // every up link: v1.AName
			}, InPath: true, XDPMode: XDPOff, perNetns: perNetns})
			sendUDP(t, a, v1.BAddr, 9, 1, 1, 64) // the first packet's neighbour lookup out of the way
			time.Sleep(50 * time.Millisecond)
			s0 := snap(t, p)
			const sent = 100
			sendUDP(t, a, v1.BAddr, 9, 4, sent/4, 64)
			time.Sleep(100 * time.Millisecond)
			s1 := snap(t, p)
			in := diff(t, s0, s1)

			got := map[string]uint64{}
			for _, x := range in.Points {
				got[fmt.Sprintf("%d/%s/%s", x.Netns, x.Link, x.Point)] += x.Packets
			}
			t.Logf("ifindex A %d, B %d, D %d; counts %v", ifindexIn(t, a, v1.AName), ifindexIn(t, b, v1.BName), ifindexIn(t, d, v2.BName), got)
			// B answers some datagrams with ICMP port unreachable (rate-limited): what B sends,
			// A receives.
			replies := got[fmt.Sprintf("%d/%s/%s", ino[b], v1.BName, model.PointTCEgress)]
			for key, want := range map[string]uint64{
				fmt.Sprintf("%d/%s/%s", ino[a], v1.AName, model.PointTCEgress):  sent,
				fmt.Sprintf("%d/%s/%s", ino[a], v1.AName, model.PointXmit):      sent,
				fmt.Sprintf("%d/%s/%s", ino[b], v1.BName, model.PointTCIngress): sent,
				fmt.Sprintf("%d/%s/%s", ino[b], v1.BName, model.PointXmit):      replies,
				fmt.Sprintf("%d/%s/%s", ino[a], v1.AName, model.PointTCIngress): replies,
				fmt.Sprintf("%d/%s/%s", ino[d], v2.BName, model.PointTCIngress): 0,
				fmt.Sprintf("%d/%s/%s", ino[d], v2.BName, model.PointTCEgress):  0,
				fmt.Sprintf("%d/%s/%s", ino[d], v2.BName, model.PointXmit):      0,
			} {
				n, ok := got[key]
				if !ok || n != want {
					t.Errorf("%s: %d packets (reported %v), want %d", key, n, ok, want)
				}
			}
			if in.MapErrors != 0 {
				t.Errorf("map errors: %d", in.MapErrors)
			}
			if s1.InPath.Netns != 0 {
				t.Errorf("netns %d for a probe set on three namespaces, want 0", s1.InPath.Netns)
			}
			cov := s1.InPath.Coverage
			wantGap := model.Gap{Netns: ino[d], Link: "nosuch0", Reason: model.GapNotFound,
				Detail: fmt.Sprintf("link nosuch0 not found in netns %q", d.Name)}
			if cov == nil || cov.Asked != 4 || cov.Watched != 3 || len(cov.Gaps) != 1 || cov.Gaps[0] != wantGap {
				t.Fatalf("coverage %+v, want 3 of 4 watched, gap %+v", cov, wantGap)
			}
			if v := s1.InPath.ForNetns(ino[d]); len(v.Points) == 0 || v.Coverage.Asked != 2 || v.Coverage.Watched != 1 {
				t.Errorf("view of D: %d points, coverage %+v; want D's points, 1 of 2 watched", len(v.Points), v.Coverage)
			} else {
				for _, x := range v.Points {
					if x.Netns != ino[d] {
						t.Errorf("view of D holds %+v", x)
					}
				}
			}
		})
	}
}

func ifindexIn(t *testing.T, ns *lab.NS, link string) int {
	t.Helper()
	var idx int
	ns.Do(t, func() error {
		var err error
		idx, err = ifindex(link)
		return err
	})
	return idx
}

// TestManyLinksCounted: 100 links, every one registered and counted at every hook (the
// tracepoint's filter map once held 64 links and silently dropped the rest).
func TestManyLinksCounted(t *testing.T) {
	ns := lab.NewNS(t, "bpfM")
	links := lab.ManyVeths(t, ns, 50, true)
	p := attach(t, Options{Targets: []Target{{Netns: ns.Name, Links: links}}, InPath: true})
	s0 := snap(t, p)
	if c := s0.InPath.Coverage; c.Asked != len(links) || c.Watched != len(links) || len(c.Gaps) != 0 {
		t.Fatalf("coverage %+v, want all %d links watched", c, len(links))
	}
	const sent, ownFrames = 20, 4
	last, peer := links[len(links)-2], links[len(links)-1]
	sendFrames(t, ns, last, sent)
	time.Sleep(100 * time.Millisecond)
	in := diff(t, s0, snap(t, p))
	for _, c := range []struct {
		link string
		pt   model.Point
	}{{last, model.PointTCEgress}, {last, model.PointXmit}, {peer, model.PointTCIngress}} {
		// A fresh link also sends a few frames of its own (IPv6 router solicitations, MLD
		// reports) during the interval: every frame sent must count, and little else.
		if n := total(perQueue(in, c.pt, c.link)); n < sent || n > sent+ownFrames {
			t.Errorf("%s %s counted %d frames, sent %d (+ at most %d of the kernel's own)", c.link, c.pt, n, sent, ownFrames)
		}
	}
	if in.MapErrors != 0 {
		t.Errorf("map errors: %d", in.MapErrors)
	}
}

// sendFrames sends n broadcast Ethernet frames of an experimental EtherType out of link
// through a packet socket: they pass tc egress and the driver hand-off, and the veth peer
// receives them at tc ingress (then drops them: no protocol wants them).
func sendFrames(t *testing.T, ns *lab.NS, link string, n int) {
	t.Helper()
	const etherType = 0x88b5 // IEEE 802 local experimental
	ns.Do(t, func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		frame := make([]byte, 60)
		copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(frame[6:], ifi.HardwareAddr)
		binary.BigEndian.PutUint16(frame[12:], etherType)
		to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(etherType), Halen: 6,
			Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
		for range n {
			if err := unix.Sendto(fd, frame, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestAutoXDPFollowsGRO: auto attaches native XDP to a veth whose GRO is on (it receives
// through NAPI already) and none to one whose GRO is off; GRO is read once per link.
func TestAutoXDPFollowsGRO(t *testing.T) {
	for _, gro := range []bool{true, false} {
		t.Run(fmt.Sprintf("gro=%v", gro), func(t *testing.T) {
			_, b, v := pair(t, 1)
			lab.SetFeature(t, b, v.BName, "rx-gro", gro)
			p := attach(t, Options{Targets: []Target{{Netns: b.Name, Links: []string{v.BName}}}, InPath: true})
			want := XDPOff
			if gro {
				want = XDPNative
			}
			if s := snap(t, p); s.InPath.XDPMode != want || s.InPath.Coverage.Watched != 1 {
				t.Errorf("xdp mode %q, coverage %+v; want %q on the one link", s.InPath.XDPMode, s.InPath.Coverage, want)
			}
		})
	}
}
