package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// A Node with probes attaches them in every namespace it finds, counts in-path traffic and
// drop reasons of each by its inode, and reports a namespace that appears after attaching
// as not covered.
func TestNodeProbesCountInEveryNamespace(t *testing.T) {
	if !lab.Isolated(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1") {
		return
	}
	a, b := lab.NewNS(t, "npa"), lab.NewNS(t, "npb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	// Nothing but these two and the copy's own: the probes must attach nowhere else. A
	// namespace nothing can enter (a stale bind mount the isolation could not drop) is no
	// place to attach either.
	snap, err := netnsfind.Discover("/proc")
	if err != nil {
		t.Fatal(err)
	}
	aIno, bIno := lab.Inode(t, a.Path), lab.Inode(t, b.Path)
	var found []string
	var own, sawA, sawB, extra bool
	for _, ns := range snap.Namespaces {
		found = append(found, fmt.Sprintf("%d (host %v, mounts %q, pids %v)", ns.ID.Ino, ns.Host, ns.Mounts, ns.PIDs))
		switch {
		case ns.ID.Ino == aIno:
			sawA = true
		case ns.ID.Ino == bIno:
			sawB = true
		case ns.Host:
			own = true
		default:
			if h, err := ns.Open(); err == nil {
				h.Close()
				extra = true
			}
		}
	}
	if !own || !sawA || !sawB || extra {
		t.Fatalf("isolation failed: want the own namespace, %s and %s; found %s", a.Path, b.Path, strings.Join(found, "; "))
	}
	n, err := pipeline.OpenNode(pipeline.Options{Probes: true, Drops: true, XDP: "auto", Policy: policy.DefaultConfig(),
		Owner: owner.Options{CRISockets: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if m := n.Meta(); m.Mode != pipeline.ModeBPF {
		t.Fatalf("mode %s, note %q: want the probes attached", m.Mode, m.BPFNote)
	}
	late := lab.NewNS(t, "npl") // after the probes were attached

	ctx, cancel := context.WithCancel(context.Background())
	flood := make(chan error, 1)
	go func() {
		_, err := lab.InjectUDPRcvbuf(ctx, t, v)
		flood <- err
	}()
	res, err := n.Measure(context.Background(), func(context.Context) error { time.Sleep(1500 * time.Millisecond); return nil })
	cancel()
	if ferr := <-flood; ferr != nil {
		t.Fatal(ferr)
	}
	if err != nil {
		t.Fatal(err)
	}

	lossy, ok := res.Lookup(lab.Inode(t, b.Path))
	if !ok {
		t.Fatal("the lossy namespace is not in the result")
	}
	i := slices.IndexFunc(lossy.Report.Findings, func(f policy.Finding) bool { return f.Stage == stage.UDPRcvbuf })
	if i < 0 {
		t.Fatalf("lossy namespace: findings %+v, want udp-rcvbuf", lossy.Report.Findings)
	}
	if f := lossy.Report.Findings[i]; !slices.ContainsFunc(f.Reasons, func(r policy.DropReason) bool { return r.Reason == "SOCKET_RCVBUFF" }) {
		t.Errorf("udp-rcvbuf has no SOCKET_RCVBUFF drop reason from the probes: %+v", f.Reasons)
	}
	for _, ns := range []*lab.NS{a, b} {
		r, ok := res.Lookup(lab.Inode(t, ns.Path))
		if !ok {
			t.Fatalf("namespace %s is not in the result", ns.Name)
		}
		if ip := r.Delta.InPath; ip == nil || len(ip.Points) == 0 {
			t.Errorf("namespace %s: no in-path counts of its own", ns.Name)
		}
	}
	c := res.Meta.Coverage
	lateIno := lab.Inode(t, late.Path)
	if c == nil || c.Asked < 2 || !slices.ContainsFunc(c.Gaps, func(g model.Gap) bool { return g.Netns == lateIno && g.Reason == model.GapAppeared }) {
		t.Errorf("coverage %+v: want both veth ends asked and namespace %d reported as appeared", c, lateIno)
	}
}
