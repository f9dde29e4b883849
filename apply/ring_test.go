package apply

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/safchain/ethtool"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// ringNIC finds a link whose driver has ring operations (an emulated e1000 or virtio-net in
// the kernel-matrix guests). eth0 of a development machine is never used: the test changes it.
func ringNIC(t *testing.T) (name string, r ethtool.Ring) {
	t.Helper()
	if os.Getenv("KERNELMATRIX_GUEST") == "" {
		t.Skip("changes a real NIC's rings: runs only in the kernel-matrix guests (emulated e1000)")
	}
	e, err := ethtool.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	links, _ := filepath.Glob("/sys/class/net/*/device")
	for _, dev := range links {
		n := filepath.Base(filepath.Dir(dev))
		drv, err := e.DriverName(n)
		if err != nil || (drv != "e1000" && drv != "virtio_net") {
			continue
		}
		if r, err := e.GetRing(n); err == nil && r.RxMaxPending > r.RxPending {
			return n, r
		}
	}
	t.Skip("no NIC with ring operations and room to grow (e1000, virtio_net)")
	return "", ethtool.Ring{}
}

// TestRingApplyRollbackRealDriver drives the real ethtool -G path: dry run, apply with the
// journal, re-read through the driver, rollback to the original size.
func TestRingApplyRollbackRealDriver(t *testing.T) {
	lab.RequireRoot(t)
	nic, ring := ringNIC(t)
	cur := strconv.Itoa(int(ring.RxPending))
	next := strconv.Itoa(int(min(ring.RxPending*2, ring.RxMaxPending)))
	plan := []policy.Action{{Knob: "ethtool-ring:" + nic + ":rx", Current: cur, Proposed: next,
		Scope: model.ScopeDevice, Disruptive: true, Why: "rx-ring drops (test)"}}
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir(), Env: live.Env{Ring: live.EthtoolRing{}}}

	if res, err := New(o).Apply(plan); err != nil || res.Changed() != 0 {
		t.Fatalf("without --allow-disruptive a ring change must be advice: %v\n%+v", err, res)
	}
	o.AllowDisruptive = true
	a := New(o)
	dry, err := a.DryRun(plan)
	if err != nil || dry.Changed() != 1 || !strings.Contains(dry.Steps[0].Command, "ethtool -G "+nic+" rx "+next) {
		t.Fatalf("dry run: %v\n%+v", err, dry)
	}
	t.Cleanup(func() { _, _ = a.Rollback("") }) // the NIC is restored even if an assertion fails
	res, err := a.Apply(plan)
	if err != nil || res.Changed() != 1 {
		t.Fatalf("apply: %v\n%+v", err, res)
	}
	if got := rxRing(t, nic); got != next {
		t.Fatalf("driver reads back rx %s, want %s", got, next)
	}
	if _, err := a.Rollback(res.ID); err != nil {
		t.Fatal(err)
	}
	if got := rxRing(t, nic); got != cur {
		t.Fatalf("after rollback rx %s, want the original %s", got, cur)
	}
}

func rxRing(t *testing.T, nic string) string {
	t.Helper()
	e, err := ethtool.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r, err := e.GetRing(nic)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(int(r.RxPending))
}
