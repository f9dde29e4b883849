package bpf

import (
	"testing"
	"time"

	"github.com/nettune/nettune/model"
)

// TestQueuesVeth sends UDP over a 4-queue veth from 16 source ports. veth delivers on the
// RX queue equal to the sender's TX queue, so the xmit tracepoint on the sender's TX queues
// is the reference: XDP and tc ingress on the receiver must see the same per-queue counts,
// and all of them the exact number sent.
func TestQueuesVeth(t *testing.T) {
	for _, c := range []struct{ xdp, tc string }{{XDPGeneric, TCX}, {XDPNative, TCX}, {XDPNative, TCClsact}} {
		mode := c.xdp
		t.Run(c.xdp+"/"+c.tc, func(t *testing.T) {
			if f := CheckFeatures().TCX; c.tc == TCX && !f.OK {
				t.Skipf("tcx: %s", f.Reason) // kernels before 6.6: the clsact case covers them
			}
			a, b, v := pair(t, 4)
			pa := attach(t, Options{Targets: []Target{{Netns: a.Name, Links: []string{v.AName}}}, InPath: true, XDPMode: XDPOff, TCMode: c.tc})
			pb := attach(t, Options{Targets: []Target{{Netns: b.Name, Links: []string{v.BName}}}, InPath: true, XDPMode: mode, TCMode: c.tc})
			if s, _ := pb.Snapshot(); s.XDPMode != mode {
				t.Fatalf("xdp mode %q, want %q (notes %v)", s.XDPMode, mode, pb.Notes)
			}
			sendUDP(t, a, v.BAddr, 9, 1, 1, 64) // resolve ARP before the baseline
			time.Sleep(100 * time.Millisecond)
			a0, b0 := snap(t, pa), snap(t, pb)
			const flows, per = 16, 50
			sendUDP(t, a, v.BAddr, 9, flows, per, 64)
			time.Sleep(200 * time.Millisecond)
			da, db := diff(t, a0, snap(t, pa)), diff(t, b0, snap(t, pb))

			xmit := perQueue(da, model.PointXmit, v.AName)
			xdp := perQueue(db, model.PointXDP, v.BName)
			tcIn := perQueue(db, model.PointTCIngress, v.BName)
			eg := perQueue(da, model.PointTCEgress, v.AName)
			t.Logf("xmit %v xdp %v tc-ingress %v tc-egress %v", xmit, xdp, tcIn, eg)
			used := 0
			if mode == XDPGeneric {
				// Per link only: see watchedLink.vethGenericXDP.
				if _, ok := xdp[-1]; !ok || len(xdp) != 1 {
					t.Errorf("generic xdp on veth reported per queue: %v", xdp)
				}
				xdp = xmit
			}
			for q := range 4 {
				if xmit[q] != xdp[q] || xmit[q] != tcIn[q] {
					t.Errorf("queue %d: sender xmit %d, receiver xdp %d, tc ingress %d", q, xmit[q], xdp[q], tcIn[q])
				}
				if xmit[q] > 0 {
					used++
				}
			}
			if used < 2 {
				t.Errorf("16 flows used %d TX queue(s): queue steering not exercised", used)
			}
			for name, n := range map[string]uint64{"xmit": total(xmit), "xdp": total(perQueue(db, model.PointXDP, v.BName)), "tc-ingress": total(tcIn), "tc-egress": eg[-1]} {
				if n != flows*per {
					t.Errorf("%s counted %d packets, sent %d", name, n, flows*per)
				}
			}
			if db.MapErrors != 0 || da.MapErrors != 0 {
				t.Errorf("map errors: %d, %d", da.MapErrors, db.MapErrors)
			}
		})
	}
}
