package apply

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// nodeRig runs AutoNode on a clock, with a node of nettune's own namespace and the given
// ones, and a fake policy that finds accept queue loss in one namespace (loss) at a rate
// that does not move, and proposes one step more of its somaxconn.
type nodeRig struct {
	t     *testing.T
	o     Options
	a     *Applier
	clock *clock
	nss   []netnsfind.Namespace
}

func (r *nodeRig) run(loss *netnsfind.Namespace) *AutoResult {
	r.t.Helper()
	r.clock.Add(5 * time.Minute)
	cur := &collect.NodeSample{Time: r.clock.Now(), Namespaces: []collect.NamespaceSample{
		{Own: true, Namespace: netnsfind.Namespace{Host: true, ID: netnsfind.ID{Ino: 1}}, Sample: &model.Sample{Time: r.clock.Now()}}}}
	for _, ns := range r.nss {
		cur.Namespaces = append(cur.Namespaces, collect.NamespaceSample{Namespace: ns, Sample: &model.Sample{Time: r.clock.Now(), Netns: ns.Path()}})
	}
	res, err := r.a.AutoNode(cur, func(prev, cur *collect.NodeSample) (*pipeline.NodeResult, error) {
		nr := &pipeline.NodeResult{}
		for _, c := range cur.Namespaces {
			p, ok := prev.Lookup(c.Namespace.ID.Ino)
			if !ok {
				continue
			}
			d, err := model.Diff(p.Sample, c.Sample)
			if err != nil {
				return nil, err
			}
			rep := &policy.Report{}
			if loss != nil && c.Namespace.ID == loss.ID {
				now, next := raised(r.t, r.o, somaxconn, loss.Path())
				f := policy.Finding{ID: "tcp-accept-queue/" + loss.Path(), Netns: loss.Path(), Stage: stage.TCPAcceptQueue,
					Class: stage.ClassCapacity, Severity: policy.SeverityWarning, DropRate: 300}
				rep.Findings = []policy.Finding{f}
				rep.Plan = []policy.Action{{Knob: somaxconn, Netns: loss.Path(), Current: now, Proposed: next,
					Findings: []string{f.ID}, Why: "accept queue overflows"}}
			}
			nr.Namespaces = append(nr.Namespaces, pipeline.NamespaceResult{Namespace: c.Namespace, Own: c.Own, Delta: d, Report: rep})
		}
		return nr, nil
	})
	if err != nil {
		r.t.Fatalf("%v\n%+v", err, res)
	}
	return res
}

// TestAutoNodeChangesAndRevertsInANamespace: periodic remediation over the node acts on the
// namespace whose loss persisted (entered through its handle, journaled by inode), leaves the
// quiet one alone, and reverts the change in that namespace when the loss did not fall.
func TestAutoNodeChangesAndRevertsInANamespace(t *testing.T) {
	quiet, lossy := lab.NewNS(t, "anq"), lab.NewNS(t, "anl")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	c := newClock()
	o.Now = c.Now
	o.Auto = AutoConfig{Hysteresis: 2, Cooldown: 2 * time.Minute, RevertBelow: 0.5}
	r := &nodeRig{t: t, o: o, a: New(o), clock: c, nss: []netnsfind.Namespace{found(t, quiet.Path), found(t, lossy.Path)}}
	loss := &r.nss[1]
	before, quietBefore := read(t, o, somaxconn, lossy.Name), read(t, o, somaxconn, quiet.Name)

	if res := r.run(loss); res.Baseline == "" {
		t.Fatalf("run 1 saves the baseline: %+v", res)
	}
	if res := r.run(loss); res.Count("wait") != 1 {
		t.Fatalf("run 2 waits for the finding to persist:\n%s", why(res))
	}
	res := r.run(loss)
	if res.Count("change") != 1 || res.Actions[0].Netns != lossy.Name {
		t.Fatalf("run 3 changes somaxconn in %s:\n%s%+v", lossy.Name, why(res), res.Actions)
	}
	if read(t, o, somaxconn, lossy.Name) == before || read(t, o, somaxconn, quiet.Name) != quietBefore {
		t.Fatalf("somaxconn: lossy %s (was %s), quiet %s (was %s)", read(t, o, somaxconn, lossy.Name), before,
			read(t, o, somaxconn, quiet.Name), quietBefore)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || lines[len(lines)-1].NetnsIno != loss.ID.Ino {
		t.Fatalf("journal: %v %+v", err, lines)
	}
	res = r.run(loss)
	if res.Count("revert") != 1 || read(t, o, somaxconn, lossy.Name) != before {
		t.Fatalf("run 4 reverts (loss did not fall):\n%s", why(res))
	}
}

// The node baseline reads back what it wrote, and a namespace known by another name since
// (a new namespace given a gone one's inode) gets no baseline from the old one.
func TestNodeBaseline(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	web := netnsfind.Namespace{ID: netnsfind.ID{Ino: 4026532871}, Names: []string{"web"}}
	s := &collect.NodeSample{Time: at, Namespaces: []collect.NamespaceSample{
		{Own: true, Namespace: netnsfind.Namespace{Host: true, ID: netnsfind.ID{Ino: 4026531840}}, Sample: &model.Sample{Time: at}},
		{Namespace: web, Sample: &model.Sample{Time: at, Links: []model.Link{{Name: "eth0", Index: 2}}}},
	}}
	b := appendNodeBaseline(nil, s)
	got, err := parseNodeBaseline(b)
	if err != nil || len(got) != 2 || got[1].ref != "web" || got[1].ino != web.ID.Ino || !got[0].own ||
		len(got[1].sample.Links) != 1 || !got[1].sample.Time.Equal(at) {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	for n := range len(b) {
		if _, err := parseNodeBaseline(b[:n]); err == nil {
			t.Fatalf("a baseline cut at %d bytes parses", n)
		}
	}
	if _, err := parseNodeBaseline(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing bytes parse")
	}
	d := fsxDir(t)
	if err := saveNodeSample(d, s); err != nil {
		t.Fatal(err)
	}
	renamed := *s
	renamed.Namespaces = []collect.NamespaceSample{s.Namespaces[0],
		{Namespace: netnsfind.Namespace{ID: web.ID, Names: []string{"cni-1234"}}, Sample: &model.Sample{Time: at.Add(time.Minute)}}}
	prev, err := loadNodeSample(d, &renamed)
	if err != nil || len(prev.Namespaces) != 1 || !prev.Namespaces[0].Own {
		t.Fatalf("a namespace known by another name kept the old baseline: %v %+v", err, prev)
	}
	if !strings.HasPrefix(string(b), nodeBaselineMagic) {
		t.Fatal("no magic")
	}
}

func FuzzParseNodeBaseline(f *testing.F) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Add(appendNodeBaseline(nil, &collect.NodeSample{Time: at, Namespaces: []collect.NamespaceSample{
		{Namespace: netnsfind.Namespace{ID: netnsfind.ID{Ino: 7}, Names: []string{"web"}}, Sample: &model.Sample{Time: at}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseNodeBaseline(b)
		if err != nil {
			return
		}
		for _, e := range got {
			if e.sample == nil {
				t.Fatal("a namespace without its sample")
			}
		}
	})
}

func fsxDir(t *testing.T) *fsx.Dir {
	t.Helper()
	d, err := fsx.CreateDir(t.TempDir()+"/state", 0o700)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
