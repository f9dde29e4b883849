package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

func openNode(t *testing.T) *pipeline.Node { return openNodeWith(t, 0) }

// openNodeWith is openNode re-reading settings every settingsEvery, as serve's is.
func openNodeWith(t *testing.T, settingsEvery time.Duration) *pipeline.Node {
	t.Helper()
	o := nodeOptions(t)
	o.ProcRoot, o.Owner.ProcRoot = "", "" // the host's
	o.SettingsEvery = settingsEvery
	n, err := pipeline.OpenNode(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// One interval over every namespace: the one whose UDP receiver overflows gets the
// udp-rcvbuf finding, the quiet ones (named, and one `unshare --net` holds) get none, one
// whose process exits during the interval is left out without an error. Only the lossy
// namespace's own sysctls are read, after its findings: the quiet ones hold the host's
// global ones only, and their conntrack table's entry count.
func TestNodeFindsTheLossyNamespace(t *testing.T) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, "nda"), lab.NewNS(t, "ndb")
	quiet := []*lab.NS{lab.NewNS(t, "ndq"), lab.NewNS(t, "ndq")}
	for _, ns := range append(quiet, a, b) {
		lab.SetSysctl(t, ns, "net.core.somaxconn", "777") // per namespace; the host's is left alone
	}
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	held, heldInoPath := lab.UnshareNet(t)
	heldIno := lab.Inode(t, heldInoPath)
	doomed, doomedInoPath := lab.UnshareNet(t)
	doomedIno := lab.Inode(t, doomedInoPath)

	n := openNode(t)
	first, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	for _, ino := range []uint64{lab.Inode(t, a.Path), lab.Inode(t, b.Path), heldIno, doomedIno} {
		if _, ok := first.Lookup(ino); !ok {
			t.Fatalf("first sample lacks netns %d", ino)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	flood := make(chan error, 1)
	go func() {
		_, err := lab.InjectUDPRcvbuf(ctx, t, v)
		flood <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := doomed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = doomed.Wait()
	if err := <-flood; err != nil {
		t.Fatal(err)
	}
	second, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Analyze(context.Background(), first, second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d namespaces, %d vanished, %d appeared, errors %q", len(res.Namespaces), len(res.Vanished), len(res.Appeared), res.Errors)

	lossy, ok := res.Lookup(lab.Inode(t, b.Path))
	if !ok {
		t.Fatal("the lossy namespace is not in the result")
	}
	if !lossy.Report.Loss() || !slices.ContainsFunc(lossy.Report.Findings, func(f policy.Finding) bool { return f.Stage == stage.UDPRcvbuf }) {
		t.Errorf("lossy namespace %s: findings %+v, want udp-rcvbuf", b.Name, lossy.Report.Findings)
	}
	if !slices.Contains(lossy.Namespace.Names, b.Name) {
		t.Errorf("lossy namespace's names %q, want %s", lossy.Namespace.Names, b.Name)
	}
	if s, _ := second.Lookup(lossy.Namespace.ID.Ino); !s.Settings || s.Sample.Sysctls["net.core.somaxconn"] != "777" {
		t.Errorf("lossy namespace: settings read %t, somaxconn %q, want its own 777", s.Settings, s.Sample.Sysctls["net.core.somaxconn"])
	}
	for _, ns := range append(quiet, a) {
		r, ok := res.Lookup(lab.Inode(t, ns.Path))
		if !ok {
			t.Errorf("namespace %s is not in the result", ns.Name)
			continue
		} else if r.Report.Loss() {
			t.Errorf("quiet namespace %s has loss: %+v", ns.Name, r.Report.Findings)
		}
		s, _ := second.Lookup(r.Namespace.ID.Ino)
		if v, ok := s.Sample.Sysctls["net.core.somaxconn"]; s.Settings || ok || s.Sample.Sysctls["net.core.rmem_max"] == "" {
			t.Errorf("quiet namespace %s: settings read %t, somaxconn %q, rmem_max %q: want its own unread, the host's global ones",
				ns.Name, s.Settings, v, s.Sample.Sysctls["net.core.rmem_max"])
		}
		if _, ok := s.Sample.Sysctls["net.netfilter.nf_conntrack_count"]; s.Sample.Conntrack != nil && !ok {
			t.Errorf("quiet namespace %s: no conntrack entry count beside its conntrack counters", ns.Name)
		}
	}
	h, ok := res.Lookup(heldIno)
	switch {
	case !ok:
		t.Error("the unshare --net namespace is not in the result")
	case h.Report.Loss():
		t.Errorf("unshare --net namespace has loss: %+v", h.Report.Findings)
	case len(h.Owner.Processes) == 0 || h.Owner.Processes[0].PID != held.Process.Pid:
		t.Errorf("unshare --net namespace's owner %+v, want process %d", h.Owner, held.Process.Pid)
	}
	if _, ok := res.Lookup(doomedIno); ok || !slices.Contains(res.Vanished, netnsfind.ID{Dev: h.Namespace.ID.Dev, Ino: doomedIno}) {
		t.Errorf("the namespace whose process exited: in the result %v, vanished %v", ok, res.Vanished)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors %q, want none", res.Errors)
	}
}

// BenchmarkNodeSample500 samples 500 namespaces, each with a veth pair and a bound UDP
// socket, besides whatever the host has: one interval's collection (its discovery
// included), the number that bounds serve's CPU per interval.
func BenchmarkNodeSample500(b *testing.B) {
	lab.RequireRoot(b)
	lab.ManyNamespaces(b, "nb", 500)
	o := pipeline.Options{Policy: policy.DefaultConfig()}
	o.Owner.CRISockets = []string{}
	n, err := pipeline.OpenNode(o)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	cpu := cpuTime(b)
	if _, err := n.Sample(); err != nil { // opens every namespace's handle and sockets
		b.Fatal(err)
	}
	first := cpuTime(b) - cpu // reported after the loop, whose first call clears metrics
	b.ReportAllocs()
	cpu = cpuTime(b)
	for b.Loop() {
		s, err := n.Sample()
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Namespaces) < 501 {
			b.Fatalf("%d namespaces sampled", len(s.Namespaces))
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(first), "first-cpu-ns")
}

// cpuTime is the process's user and system CPU time so far, in ns: the sampling threads'
// work, which wall time on shared CPUs hides.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkNodeAnalyze500 analyzes one interval of those 500 namespaces: a Delta, the
// policy's report and the owner (from /proc and cgroups: no runtime here) of each.
func BenchmarkNodeAnalyze500(b *testing.B) {
	lab.RequireRoot(b)
	lab.ManyNamespaces(b, "nb", 500)
	o := pipeline.Options{Policy: policy.DefaultConfig()}
	o.Owner.CRISockets = []string{}
	n, err := pipeline.OpenNode(o)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	prev, err := n.Sample()
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cur, err := n.Sample()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime(b)
	for b.Loop() {
		res, err := n.Analyze(context.Background(), prev, cur)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Namespaces) < 501 {
			b.Fatalf("%d namespaces analyzed", len(res.Namespaces))
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkNodeIntervalSkew500 measures how far each of 500 namespaces' intervals is from the
// own namespace's, whose SNMP read the probes' snapshot follows: a namespace read d after the
// own one at the first sample and d' at the second has an interval d'−d longer than the
// probes'. Reported: the largest |d'−d| over the namespaces of the first interval (the one
// advise measures) and of a later one (serve's), in ms.
func BenchmarkNodeIntervalSkew500(b *testing.B) {
	lab.RequireRoot(b)
	lab.ManyNamespaces(b, "nb", 500)
	o := pipeline.Options{Policy: policy.DefaultConfig()}
	o.Owner.CRISockets = []string{}
	var first, later float64
	for b.Loop() {
		n, err := pipeline.OpenNode(o)
		if err != nil {
			b.Fatal(err)
		}
		var samples []*collect.NodeSample
		for range 3 {
			s, err := n.Sample()
			if err != nil {
				b.Fatal(err)
			}
			samples = append(samples, s)
		}
		n.Close()
		first = max(first, skew(b, samples[0], samples[1]))
		later = max(later, skew(b, samples[1], samples[2]))
	}
	b.ReportMetric(first, "first-skew-ms")
	b.ReportMetric(later, "later-skew-ms")
}

// skew is the largest difference, in ms, between a namespace's interval from prev to cur and
// the own namespace's.
func skew(b *testing.B, prev, cur *collect.NodeSample) float64 {
	offsets := func(s *collect.NodeSample) map[uint64]time.Duration {
		var own time.Time
		for _, ns := range s.Namespaces {
			if ns.Own {
				own = ns.Sample.Time
			}
		}
		m := map[uint64]time.Duration{}
		for _, ns := range s.Namespaces {
			m[ns.Namespace.ID.Ino] = ns.Sample.Time.Sub(own)
		}
		return m
	}
	p, c := offsets(prev), offsets(cur)
	var worst time.Duration
	for ino, d := range c {
		if dp, ok := p[ino]; ok {
			worst = max(worst, (d - dp).Abs())
		}
	}
	if len(c) < 501 {
		b.Fatalf("%d namespaces sampled", len(c))
	}
	return float64(worst) / float64(time.Millisecond)
}

// A namespace in which nothing moves keeps reporting its links' qdiscs and driver (taken
// from its last clean sample, not read again), and reads them again once a packet moves.
func TestNodeStillNamespaceKeepsItsQdiscs(t *testing.T) {
	a, v := stillPair(t, "nds")
	lab.SetQdisc(t, a, v.AName, "pfifo", 50)
	ino := lab.Inode(t, a.Path)
	n := openNode(t)
	qdisc := func(tag string) (packets uint64) {
		t.Helper()
		l, _ := sampleLink(t, n, ino, v.AName, tag)
		if l.Driver != "veth" || len(l.Qdiscs) == 0 || l.Qdiscs[0].Kind != "pfifo" {
			t.Fatalf("%s: link %s driver %q qdiscs %+v", tag, l.Name, l.Driver, l.Qdiscs)
		}
		return l.Qdiscs[0].Packets
	}
	before := qdisc("first")
	for i := range 3 {
		if got := qdisc(fmt.Sprintf("still %d", i)); got != before {
			t.Errorf("still %d: pfifo counted %d packets, then %d, while nothing moved", i, before, got)
		}
	}
	a.Do(t, func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		to := &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: 9}
		for range 20 {
			if _, err := c.WriteTo([]byte("x"), to); err != nil {
				return err
			}
		}
		return nil
	})
	if after := qdisc("after sending"); after < before+20 {
		t.Errorf("pfifo counted %d packets after 20 were sent, %d before", after, before)
	}
}

// A namespace in which nothing moved reads its links' counters alone for its settings
// period: its links keep the attributes of its last link dump (an MTU changed with no packet
// is not seen yet), until a packet moves and the links are dumped again. Its sockstat keeps
// the namespace's own numbers (a socket opened with no packet is counted at the next packet)
// and has the host's memory pools, as the host read them.
func TestNodeStillNamespaceReadsCountersAlone(t *testing.T) {
	a, v := stillPair(t, "ndc")
	ino := lab.Inode(t, a.Path)
	n := openNodeWith(t, time.Hour)
	sample := func(tag string) (mtu int, own, host *model.Sockstat) {
		t.Helper()
		l, s := sampleLink(t, n, ino, v.AName, tag)
		for _, o := range s.Namespaces {
			if o.Own {
				host = o.Sample.Sockstat
			}
		}
		ns, _ := s.Lookup(ino)
		return l.MTU, ns.Sample.Sockstat, host
	}
	sample("first")
	_, before, _ := sample("still") // dumped, and nothing moved: the next sample reads counters alone
	var held net.PacketConn         // a socket opened with no packet sent
	a.Do(t, func() error {
		var err error
		held, err = net.ListenPacket("udp4", ":0")
		return err
	})
	defer held.Close()
	h := a.Handle(t)
	l, err := h.LinkByName(v.AName)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetMTU(l, 1400); err != nil {
		t.Fatal(err)
	}
	mtu, own, host := sample("after the MTU change")
	if mtu != 1500 {
		t.Errorf("MTU %d after a change with no packet: the links were dumped, not their counters read", mtu)
	}
	if own == nil || host == nil || own.TCPMem != host.TCPMem || own.UDPMem != host.UDPMem ||
		own.TCPAlloc != host.TCPAlloc || own.TCPOrphan != host.TCPOrphan {
		t.Errorf("still namespace's sockstat %+v, host's %+v: the pools differ", own, host)
	}
	if own != nil && before != nil && own.UDPInUse != before.UDPInUse {
		t.Errorf("UDP sockets in use %d, then %d with no packet: sockstat was read, not kept", before.UDPInUse, own.UDPInUse)
	}
	a.Do(t, func() error {
		c, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP(v.BAddr), Port: 9})
		return err
	})
	mtu, own, _ = sample("after a packet")
	if mtu != 1400 {
		t.Errorf("MTU %d after a packet moved, want 1400", mtu)
	}
	if own == nil || before == nil || own.UDPInUse != before.UDPInUse+1 {
		t.Errorf("UDP sockets in use %+v after a packet, %+v before the socket: want one more", own, before)
	}
}

// stillPair makes two namespaces joined by a veth on which nothing moves (no IPv6, so no
// solicitations): the first and the veth.
func stillPair(t *testing.T, prefix string) (*lab.NS, *lab.Veth) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, prefix), lab.NewNS(t, prefix)
	for _, ns := range []*lab.NS{a, b} {
		lab.SetSysctl(t, ns, "net.ipv6.conf.default.disable_ipv6", "1")
		lab.SetSysctl(t, ns, "net.ipv6.conf.all.disable_ipv6", "1")
	}
	return a, lab.NewVeth(t, a, b, lab.VethOpts{})
}

// sampleLink takes a sample of the node and returns the link named in the namespace ino, and
// the sample.
func sampleLink(t *testing.T, n *pipeline.Node, ino uint64, name, tag string) (model.Link, *collect.NodeSample) {
	t.Helper()
	s, err := n.Sample()
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := s.Lookup(ino)
	if !ok {
		t.Fatalf("%s: no sample of netns %d", tag, ino)
	}
	for _, l := range ns.Sample.Links {
		if l.Name == name {
			return l, s
		}
	}
	t.Fatalf("%s: no link %s", tag, name)
	return model.Link{}, nil
}
