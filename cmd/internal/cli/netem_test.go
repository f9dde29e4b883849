package cli

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
)

// TestScenarioNetemLoss injects loss with netem on A's egress — a stage the 6.18 machine
// cannot create (no sch_netem), so it runs in the kernel matrix — and checks that advise
// places it on A's qdisc as configured emulation (policy, no plan), and that B, which only
// receives less, reports no capacity loss.
func TestScenarioNetemLoss(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	h := v.A.Handle(t)
	l, err := h.LinkByName(v.AName)
	if err != nil {
		t.Fatal(err)
	}
	q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Loss: 30, Limit: 10000})
	if err := h.QdiscAdd(q); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			t.Skipf("netem: %v (no sch_netem in this kernel)", err)
		}
		t.Fatalf("add netem: %v", err)
	}
	sink := lab.UDPSink(t, v.B, v.BAddr+":0", lab.SinkOpts{Read: true, RcvBuf: 4 << 20})
	flood := func(ctx context.Context, _ testing.TB, _ *lab.Veth) (lab.FloodResult, error) {
		for ctx.Err() == nil {
			if _, err := lab.UDPFlood(ctx, v.A, sink.Addr(), lab.FloodOpts{PPS: 5000, Size: 200, Duration: 200 * time.Millisecond}); err != nil {
				return lab.FloodResult{}, err
			}
		}
		return lab.FloodResult{}, nil
	}

	d, _, stderr := underLoss(t, v, flood, v.A, "--no-bpf")
	if len(d.Findings) == 0 {
		t.Fatalf("no findings on A; stderr: %s", stderr)
	}
	top := d.Findings[0]
	if top.Stage != "qdisc" || top.Class != "policy" || top.Interface != v.AName {
		t.Fatalf("top finding on A %s (%s/%s on %s), want the netem qdisc as policy; all: %+v", top.ID, top.Stage, top.Class, top.Interface, d.Findings)
	}
	for _, a := range d.Plan {
		for _, f := range a.Findings {
			if f == top.ID {
				t.Errorf("plan acts on emulated loss: %+v", a)
			}
		}
	}
	d, code, stderr := underLoss(t, v, flood, v.B, "--no-bpf")
	for _, f := range d.Findings {
		if f.Class == "capacity" && f.Severity != "info" {
			t.Errorf("receiver B reports capacity loss %+v; the loss is A's netem (exit %d, %s)", f, code, stderr)
		}
	}
}
