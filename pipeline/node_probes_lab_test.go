package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
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

// isolatedEnv marks the copy of a test that runs in namespaces of its own (isolated).
const isolatedEnv = "NETTUNE_TEST_ISOLATED"

// isolated re-runs the calling test in a network, PID and mount namespace of its own, with
// no nsfs mount left in its mount table: a Node there finds only the namespaces the test
// makes, so its probes never attach to the machine's own links. It reports whether the
// caller is that copy (and should run); the original waits for the copy and fails with it.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolatedEnv) == "1" {
		return true
	}
	lab.RequireRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare binary (util-linux): %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The copy's PID 1 is the shell, which makes the mount table private, drops every
	// namespace's bind mount from it and becomes the test binary.
	script := `mount --make-rprivate / && for m in $(awk '$0 ~ / - nsfs / {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done; exec "$0" -test.run "^$1\$" -test.v -test.count=1`
	cmd := exec.Command(unshare, "--net", "--pid", "--mount", "--fork", "--mount-proc", "sh", "-c", script, self, t.Name())
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in namespaces of its own:\n%s", out)
	if err != nil {
		t.Fatalf("isolated copy: %v", err)
	}
	return false
}

// A Node with probes attaches them in every namespace it finds, counts in-path traffic and
// drop reasons of each by its inode, and reports a namespace that appears after attaching
// as not covered.
func TestNodeProbesCountInEveryNamespace(t *testing.T) {
	if !isolated(t) {
		return
	}
	a, b := lab.NewNS(t, "npa"), lab.NewNS(t, "npb")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	// Nothing but these two and the copy's own: the probes must attach nowhere else.
	snap, err := netnsfind.Discover("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Namespaces) != 3 {
		t.Fatalf("isolation failed: %d namespaces found, want the own one and two", len(snap.Namespaces))
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

	lossy, ok := res.Lookup(inode(t, b.Path))
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
		r, ok := res.Lookup(inode(t, ns.Path))
		if !ok {
			t.Fatalf("namespace %s is not in the result", ns.Name)
		}
		if ip := r.Delta.InPath; ip == nil || len(ip.Points) == 0 {
			t.Errorf("namespace %s: no in-path counts of its own", ns.Name)
		}
	}
	c := res.Meta.Coverage
	lateIno := inode(t, late.Path)
	if c == nil || c.Asked < 2 || !slices.ContainsFunc(c.Gaps, func(g model.Gap) bool { return g.Netns == lateIno && g.Reason == model.GapAppeared }) {
		t.Errorf("coverage %+v: want both veth ends asked and namespace %d reported as appeared", c, lateIno)
	}
}
