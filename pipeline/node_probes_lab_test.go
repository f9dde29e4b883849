package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/bpf"
	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// A Node with probes attaches them in every namespace it finds, counts in-path traffic and
// drop reasons of each by its inode, and attaches them in a namespace that appears after
// OpenNode at the next sample (TestNodeProbesFollowNamespaces counts in one).
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
	if f := lossy.Report.Findings[i]; bpf.CheckFeatures().DropReasons.OK && !slices.ContainsFunc(f.Reasons, func(r policy.DropReason) bool { return r.Reason == "SOCKET_RCVBUFF" }) {
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
	if c == nil || c.Asked < 2 || slices.ContainsFunc(c.Gaps, func(g model.Gap) bool { return g.Reason == model.GapAppeared }) ||
		!slices.ContainsFunc(c.PerNetns, func(w model.NetnsCoverage) bool { return w.Netns == lateIno }) {
		t.Errorf("coverage %+v: want both veth ends asked and namespace %d watched", c, lateIno)
	}
}

// A namespace created after OpenNode (one `unshare --net` holds, joined to a named one by a
// veth) is watched from the sample that first finds it, so its first interval after that
// one counts its traffic, and so is the veth's new end in the watched namespace; once the
// process ends, the next sample detaches the probes from the namespace and from the end
// that went with it, and none of their bpf_link descriptors stays open.
func TestNodeProbesFollowNamespaces(t *testing.T) {
	if !lab.Isolated(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1") {
		return
	}
	a := lab.NewNS(t, "npf")
	lab.ManyVeths(t, a, 1, true) // a link to attach to at OpenNode
	n, err := pipeline.OpenNode(pipeline.Options{Probes: true, XDP: "off", Policy: policy.DefaultConfig(),
		Owner: owner.Options{CRISockets: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if m := n.Meta(); m.Mode != pipeline.ModeBPF {
		t.Fatalf("mode %s, note %q: want the probes attached", m.Mode, m.BPFNote)
	}
	before := lab.BPFLinkFDs(t)
	s0 := sample(t, n)

	held, lateInoPath := lab.UnshareNet(t)
	lateIno := lab.Inode(t, lateInoPath)
	latePath := fmt.Sprintf("/proc/%d/ns/net", held.Process.Pid)
	const subnet = "198.18.91."
	a.Do(t, func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "npfa"}, PeerName: "npfb",
			PeerNamespace: netlink.NsPid(held.Process.Pid)}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		return upWithAddr("npfa", subnet+"1/24")
	})
	if err := netns.Do(latePath, func() error { return upWithAddr("npfb", subnet+"2/24") }); err != nil {
		t.Fatal(err)
	}

	s1 := sample(t, n) // finds the late namespace and attaches there before reading
	if res := analyze(t, n, s0, s1); !slices.ContainsFunc(res.Appeared, func(id netnsfind.ID) bool { return id.Ino == lateIno }) {
		t.Fatalf("appeared %v, want netns %d", res.Appeared, lateIno)
	}
	// npfb in the late namespace, attached before s1 read it, and npfa, the end in the
	// watched namespace a, attached when s1's link dump found it: tcx ingress and egress each.
	if got := lab.BPFLinkFDs(t); got != before+4*tcHookLinks() {
		t.Errorf("bpf_link descriptors after the late namespace's veth: %d, want %d", got, before+4*tcHookLinks())
	}
	const sent = 50
	a.Do(t, func() error {
		// Unconnected: the closed port's ICMP errors must not fail the next write.
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		dst := &net.UDPAddr{IP: net.ParseIP(subnet + "2"), Port: 9}
		for range sent {
			if _, err := c.WriteTo(make([]byte, 64), dst); err != nil {
				return err
			}
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond)
	s2 := sample(t, n)
	res := analyze(t, n, s1, s2)
	late, ok := res.Lookup(lateIno)
	if !ok {
		t.Fatal("the late namespace's second interval is not in the result")
	}
	var in uint64
	if ip := late.Delta.InPath; ip != nil {
		for _, p := range ip.Points {
			if p.Link == "npfb" && p.Point == model.PointTCIngress {
				in += p.Packets
			}
		}
	}
	if in < sent {
		t.Errorf("late namespace: %d packets at tc ingress of npfb, want ≥ %d", in, sent)
	}
	var out uint64
	if ra, ok := res.Lookup(lab.Inode(t, a.Path)); ok && ra.Delta.InPath != nil {
		for _, p := range ra.Delta.InPath.Points {
			if p.Link == "npfa" && p.Point == model.PointTCEgress {
				out += p.Packets
			}
		}
	}
	if out < sent {
		t.Errorf("watched namespace: %d packets at tc egress of its new link npfa, want ≥ %d", out, sent)
	}
	if c := res.Meta.Coverage; c == nil || slices.ContainsFunc(c.Gaps, func(g model.Gap) bool { return g.Netns == lateIno }) {
		t.Errorf("coverage %+v: want the late namespace watched without a gap", c)
	}

	if err := held.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = held.Wait()
	s3 := sample(t, n)
	if res := analyze(t, n, s2, s3); !slices.ContainsFunc(res.Vanished, func(id netnsfind.ID) bool { return id.Ino == lateIno }) {
		t.Errorf("vanished %v, want netns %d", res.Vanished, lateIno)
	}
	// The kernel dismantles a dead namespace in the background: its veth, and with it npfa,
	// goes a moment later, and the sample after that lets go of npfa.
	h := a.Handle(t)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := h.LinkByName("npfa"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("npfa outlived its peer's namespace by 5 s")
		}
	}
	sample(t, n)
	if got := lab.BPFLinkFDs(t); got != before {
		t.Errorf("bpf_link descriptors after the late namespace vanished: %d, want %d", got, before)
	}
}

func sample(t *testing.T, n *pipeline.Node) *collect.NodeSample {
	t.Helper()
	s, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) > 0 {
		t.Errorf("sample errors: %q", s.Errors)
	}
	return s
}

func analyze(t *testing.T, n *pipeline.Node, prev, cur *collect.NodeSample) *pipeline.NodeResult {
	t.Helper()
	res, err := n.Analyze(context.Background(), prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// upWithAddr brings a link of the calling thread's namespace up with an address.
func upWithAddr(name, cidr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, addr); err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// tcHookLinks is the bpf_links one tc hook of one link adds: one with tcx; none before 6.6,
// where the programs are clsact filters.
func tcHookLinks() int {
	if bpf.CheckFeatures().TCX.OK {
		return 1
	}
	return 0
}

// A namespace whose only way in is a bind mount that another mount now hides (a tmpfs
// mounted over its directory: the mount table still lists it, its path leads elsewhere) is
// not entered through that path: the probes attach in the namespaces discovery can open
// and check, and no coverage gap, note or error names the hidden one or what its path now
// leads to.
func TestNodeProbesEnterCheckedNamespaces(t *testing.T) {
	if !lab.Isolated(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1") {
		return
	}
	a := lab.NewNS(t, "npc")
	lab.NewVeth(t, a, lab.NewNS(t, "npd"), lab.VethOpts{}) // links to attach to
	holder, holderNS := lab.UnshareNet(t)
	hiddenIno := lab.Inode(t, holderNS)
	dir := filepath.Join(t.TempDir(), "ns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "hidden")
	if err := os.WriteFile(file, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(holderNS, file, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(file, unix.MNT_DETACH) })
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.WriteFile(file, nil, 0o444); err != nil { // what the path leads to now
		t.Fatal(err)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	snap, err := netnsfind.Discover("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Lookup(hiddenIno); !ok {
		t.Fatalf("discovery does not list the hidden namespace %d (the test's premise)", hiddenIno)
	}

	n, err := pipeline.OpenNode(pipeline.Options{Probes: true, XDP: "auto", Policy: policy.DefaultConfig(),
		Owner: owner.Options{CRISockets: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	m := n.Meta()
	if m.Mode != pipeline.ModeBPF {
		t.Fatalf("mode %s, note %q: want the probes attached", m.Mode, m.BPFNote)
	}
	res, err := n.Measure(context.Background(), func(context.Context) error { time.Sleep(200 * time.Millisecond); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Meta.BPFNote, file) {
		t.Errorf("the probes' notes name the hidden mount: %s", res.Meta.BPFNote)
	}
	if c := res.Meta.Coverage; c == nil || len(c.Gaps) != 0 {
		t.Errorf("coverage %+v: want no gap", c)
	}
	if _, ok := res.Lookup(lab.Inode(t, a.Path)); !ok || len(res.Errors) != 0 {
		t.Errorf("namespace %s in the result %t, errors %q", a.Name, ok, res.Errors)
	}
	if _, ok := res.Lookup(hiddenIno); ok {
		t.Error("the hidden namespace is in the result")
	}
}
