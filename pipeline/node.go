package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/bpf"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/netnsfind"
	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// Node is a run over every network namespace of the host: each interval discovers the
// namespaces (netnsfind), samples each (collect.Node) and analyzes each one's interval with
// the same policy, naming its owner (docs/architecture.md, "Every namespace of a node").
// Options.Netns and Options.Links do not apply: a Node reads every link of every namespace.
type Node struct {
	o        Options
	meta     Meta
	col      *collect.Node
	discover func() (*netnsfind.Snapshot, error)
	probes   *bpf.Probes
	locks    *bpf.SockLocks
	// watched are the namespaces the probes are attached in: each sample first attaches them
	// in the namespaces discovery found since and detaches them from those it no longer
	// finds; one they cannot be attached in gets a coverage gap (GapAppeared).
	watched map[uint64]bool
	// handles hold the watched namespaces the probes enter by path (/proc/self/fd/N of a
	// handle checked to be the namespace discovery found): a mount path or a PID may lead
	// elsewhere by the time the probes enter it, or attach or detach again.
	handles map[uint64]*netnsfind.Handle
	own     uint64 // nettune's own namespace, watched through the attaching thread
}

// NodeResult is one measured interval of every namespace.
type NodeResult struct {
	Meta Meta
	// Namespaces are those sampled at both ends of the interval, in the discovery's order
	// (the host first).
	Namespaces []NamespaceResult
	// Vanished were sampled at the start and gone at the end (a deleted pod; found again by
	// the discovery but ended before they were entered counts too): left out, without an
	// error. Appeared are new at the end: examined from the next interval.
	Vanished, Appeared []netnsfind.ID
	// Errors name namespaces that could not be read at either end, one line each.
	Errors []string

	policy policy.Config // what analyzed it (Result)
}

// Result is one namespace's interval as a Run's Result: the node's Meta with the
// namespace's own part of the in-path coverage, for what reports one namespace (the
// Prometheus text of nettune's own namespace).
func (r *NodeResult) Result(ns *NamespaceResult) *Result {
	m := r.Meta
	if ip := ns.Delta.InPath; ip != nil {
		m.Coverage = ip.Coverage
	}
	return &Result{Meta: m, Delta: ns.Delta, Report: ns.Report, policy: r.policy}
}

// Own is the result of nettune's own namespace, nil when it could not be read.
func (r *NodeResult) Own() *NamespaceResult {
	for i := range r.Namespaces {
		if r.Namespaces[i].Own {
			return &r.Namespaces[i]
		}
	}
	return nil
}

// NamespaceResult is one namespace's interval.
type NamespaceResult struct {
	Namespace netnsfind.Namespace // as found at the end of the interval
	Own       bool                // nettune's own namespace, which holds the host-wide counters
	Owner     owner.Owner
	Delta     *model.Delta
	Report    *policy.Report
}

// Lossy lists the namespaces whose report has loss (policy.Report.Loss), in order.
func (r *NodeResult) Lossy() []*NamespaceResult {
	var out []*NamespaceResult
	for i := range r.Namespaces {
		if r.Namespaces[i].Report.Loss() {
			out = append(out, &r.Namespaces[i])
		}
	}
	return out
}

// Lookup returns the result of the namespace with the inode.
func (r *NodeResult) Lookup(ino uint64) (*NamespaceResult, bool) {
	for i := range r.Namespaces {
		if r.Namespaces[i].Namespace.ID.Ino == ino {
			return &r.Namespaces[i], true
		}
	}
	return nil, false
}

// OpenNode prepares a run over every namespace. With Options.Probes it discovers the
// namespaces once and attaches the in-path probes to every link of each (one program set,
// one target per namespace); without root or kernel support it falls back to counters as a
// Run does, and Meta.BPFNote says why.
func OpenNode(o Options) (*Node, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Owner.ProcRoot == "" {
		o.Owner.ProcRoot = o.ProcRoot
	}
	procRoot := o.ProcRoot
	n := &Node{o: o,
		meta: Meta{Mode: ModeCounters,
			Host:   firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "hostname")),
			Kernel: firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "osrelease"))},
		discover: func() (*netnsfind.Snapshot, error) { return netnsfind.Discover(procRoot) },
	}
	no := collect.NodeOptions{ProcRoot: o.ProcRoot, SysRoot: o.SysRoot,
		SettingsEvery: o.SettingsEvery, Kernel: o.Kernel, Workers: o.Workers}
	if o.Probes {
		n.attach()
		if n.probes != nil {
			n.meta.Mode = ModeBPF
			no.InPath = n.probes
		}
		if os.Geteuid() == 0 {
			if l, err := bpf.LoadSockLocks(); err == nil {
				n.locks = l
				no.BufferLocks = l
			} else {
				n.meta.BPFNote = joinNote(n.meta.BPFNote, "whether applications set SO_RCVBUF is unknown: "+err.Error())
			}
		}
	}
	col, err := collect.NewNode(no)
	if err != nil {
		n.Close()
		return nil, err
	}
	n.col = col
	return n, nil
}

// attach attaches the probes in every namespace discovery finds now, or notes why not.
func (n *Node) attach() {
	if os.Geteuid() != 0 {
		n.meta.BPFNote = "counters only: eBPF probes need root"
		return
	}
	snap, err := n.discover()
	if err != nil {
		n.meta.BPFNote = fmt.Sprintf("counters only: discover namespaces: %v", err)
		return
	}
	own, err := ownNetns(n.o.ProcRoot)
	if err != nil {
		n.meta.BPFNote = fmt.Sprintf("counters only: %v", err)
		return
	}
	n.own, n.watched, n.handles = own, map[uint64]bool{}, map[uint64]*netnsfind.Handle{}
	targets, opened := n.targets(snap)
	p, err := bpf.Attach(bpf.Options{Targets: targets, XDPMode: n.o.XDP, InPath: true, Drops: n.o.Drops})
	if err != nil {
		opened.keep(nil, nil)
		n.meta.BPFNote = fmt.Sprintf("counters only: %v", err)
		return
	}
	for _, ino := range opened.inodes {
		n.watched[ino] = true
	}
	opened.keep(opened.inodes, n.handles)
	n.probes, n.meta.BPFNote = p, strings.Join(p.Notes, "; ")
}

// targets are the probe targets of the namespaces in snap not watched yet, every link of
// each, with their inodes and handles. A namespace that cannot be opened now (ended, or no
// path to it leads to it any more) is left out: it is not sampled either.
func (n *Node) targets(snap *netnsfind.Snapshot) ([]bpf.Target, openedTargets) {
	var targets []bpf.Target
	var o openedTargets
	for i := range snap.Namespaces {
		ns := &snap.Namespaces[i]
		if n.watched[ns.ID.Ino] {
			continue
		}
		if ns.ID.Ino == n.own {
			targets = append(targets, bpf.Target{}) // the attaching thread's namespace
			o.inodes, o.handles = append(o.inodes, ns.ID.Ino), append(o.handles, nil)
			continue
		}
		h, err := ns.Open()
		if err != nil {
			continue
		}
		targets = append(targets, bpf.Target{Netns: h.Path(), Name: ns.Path()})
		o.inodes, o.handles = append(o.inodes, ns.ID.Ino), append(o.handles, h)
	}
	return targets, o
}

// openedTargets are the namespaces of targets, by inode, and their handles (nil for the own).
type openedTargets struct {
	inodes  []uint64
	handles []*netnsfind.Handle
}

// keep moves the handles of the inodes watched into into, and closes the others.
func (o openedTargets) keep(watched []uint64, into map[uint64]*netnsfind.Handle) {
	for i, h := range o.handles {
		if h == nil {
			continue
		}
		if slices.Contains(watched, o.inodes[i]) {
			into[o.inodes[i]] = h
		} else {
			h.Close()
		}
	}
}

// follow attaches the probes in the namespaces found since the last sample, before this
// sample reads them (so their first interval counts from its start), and detaches them from
// namespaces no longer found, closing their bpf_link descriptors and handles.
func (n *Node) follow(snap *netnsfind.Snapshot) error {
	var errs []error
	found := make(map[uint64]bool, len(snap.Namespaces))
	for i := range snap.Namespaces {
		found[snap.Namespaces[i].ID.Ino] = true
	}
	var gone []uint64
	for ino := range n.watched {
		if !found[ino] {
			gone = append(gone, ino)
			delete(n.watched, ino)
		}
	}
	if len(gone) > 0 {
		if err := n.probes.RemoveTargets(gone); err != nil {
			errs = append(errs, fmt.Errorf("probes: detach vanished namespaces: %w", err))
		}
		for _, ino := range gone {
			if h := n.handles[ino]; h != nil {
				h.Close()
				delete(n.handles, ino)
			}
		}
	}
	if targets, opened := n.targets(snap); len(targets) > 0 {
		added, err := n.probes.AddTargets(targets)
		if err != nil {
			errs = append(errs, fmt.Errorf("probes: attach new namespaces: %w", err))
		}
		for _, ino := range added {
			n.watched[ino] = true
		}
		opened.keep(added, n.handles)
	}
	return errors.Join(errs...)
}

// ownNetns is the inode of the calling thread's namespace, the one a Target with no Netns
// names.
func ownNetns(procRoot string) (uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procRoot, "thread-self", "ns", "net"), &st); err != nil {
		return 0, fmt.Errorf("own netns: %w", err)
	}
	return st.Ino, nil
}

// Meta is how the run measures before any interval.
func (n *Node) Meta() Meta { return n.meta }

// Sample discovers the namespaces and samples every one.
func (n *Node) Sample() (*collect.NodeSample, error) {
	snap, err := n.discover()
	if err != nil {
		return nil, fmt.Errorf("discover namespaces: %w", err)
	}
	var followErr error
	if n.probes != nil {
		followErr = n.follow(snap)
	}
	s, err := n.col.Sample(snap)
	if err != nil {
		return nil, err
	}
	if n.probes != nil {
		followErr = errors.Join(followErr, n.followLinks(s))
	}
	if followErr != nil {
		s.Errors = append(s.Errors, followErr.Error())
	}
	n.notWatched(s)
	return s, nil
}

// followLinks brings the links watched in each namespace in line with the links the sample
// found there: a new pod's host-side veth is attached (counted from this sample on), a
// deleted pod's is detached and its bpf_link descriptors closed.
func (n *Node) followLinks(s *collect.NodeSample) error {
	var errs []error
	for _, ns := range s.Namespaces {
		ino := ns.Namespace.ID.Ino
		// No links at all means the dump failed (a namespace always has lo): detaching
		// every link on that would be wrong.
		if !n.watched[ino] || ns.Sample == nil || len(ns.Sample.Links) == 0 {
			continue
		}
		refs := make([]bpf.LinkRef, len(ns.Sample.Links))
		for i, l := range ns.Sample.Links {
			refs[i] = bpf.LinkRef{Index: l.Index, Name: l.Name}
		}
		if err := n.probes.SyncLinks(ino, refs); err != nil {
			errs = append(errs, fmt.Errorf("probes: netns %d: %w", ino, err))
		}
	}
	return errors.Join(errs...)
}

// notWatched adds a coverage gap for every namespace of s the probes could not be attached
// in (no path to enter it by, or it appeared and could not be opened): its in-path counts
// are missing, and every output says so.
func (n *Node) notWatched(s *collect.NodeSample) {
	if s.InPath == nil || s.InPath.Coverage == nil {
		return
	}
	var gaps []model.Gap
	for _, ns := range s.Namespaces {
		if !n.watched[ns.Namespace.ID.Ino] {
			gaps = append(gaps, model.Gap{Netns: ns.Namespace.ID.Ino, Reason: model.GapAppeared,
				Detail: "appeared after the probes were attached"})
		}
	}
	if len(gaps) == 0 {
		return
	}
	whole := *s.InPath
	cov := *whole.Coverage
	cov.Gaps = append(slices.Clip(cov.Gaps), gaps...)
	whole.Coverage = &cov
	s.InPath = &whole
	views := whole.NetnsViews()
	for i := range s.Namespaces {
		ns := &s.Namespaces[i]
		if n.watched[ns.Namespace.ID.Ino] || ns.Sample.InPath == nil {
			continue
		}
		ns.Sample.InPath = views(ns.Namespace.ID.Ino)
	}
}

// Analyze turns the interval from prev to cur into one result per namespace present at both
// ends, each with its owner (one owner.Resolver per interval, so new pods are named). The
// namespaces whose report has findings have their own sysctls read (collect.Node's
// ReadSettings) and are analyzed again with them.
func (n *Node) Analyze(ctx context.Context, prev, cur *collect.NodeSample) (*NodeResult, error) {
	return analyzeNode(ctx, n.meta, prev, cur, n.o, n.col.ReadSettings)
}

// AnalyzeNode is Node.Analyze for samples from anywhere (tests, recordings): it analyzes
// each namespace with the settings its sample holds.
func AnalyzeNode(ctx context.Context, meta Meta, prev, cur *collect.NodeSample, o Options) (*NodeResult, error) {
	return analyzeNode(ctx, meta, prev, cur, o, nil)
}

func analyzeNode(ctx context.Context, meta Meta, prev, cur *collect.NodeSample, o Options,
	readSettings func(*collect.NodeSample, []uint64) []string) (*NodeResult, error) {
	res := &NodeResult{Meta: meta, policy: o.Policy, Errors: append(prev.Errors[:len(prev.Errors):len(prev.Errors)], cur.Errors...)}
	if ip := cur.InPath; ip != nil {
		res.Meta.XDPMode, res.Meta.Foreign, res.Meta.Coverage = ip.XDPMode, ip.Foreign, ip.Coverage
		if ip.Note != "" {
			res.Meta.BPFNote = ip.Note
		}
	}
	for _, p := range prev.Namespaces {
		if _, ok := cur.Lookup(p.Namespace.ID.Ino); !ok {
			res.Vanished = append(res.Vanished, p.Namespace.ID)
		}
	}
	var unsettled []uint64 // namespaces with findings and no settings of their own yet
	for _, c := range cur.Namespaces {
		p, ok := prev.Lookup(c.Namespace.ID.Ino)
		if !ok {
			res.Appeared = append(res.Appeared, c.Namespace.ID)
			continue
		}
		d, err := model.Diff(p.Sample, c.Sample)
		if err != nil {
			return nil, fmt.Errorf("diff samples of netns %s: %w", c.Namespace.ID, err)
		}
		r := NamespaceResult{Namespace: c.Namespace, Own: c.Own, Delta: d,
			Report: policy.AnalyzeWith(d, policy.Settings{}, o.Policy)}
		if !c.Settings && len(r.Report.Findings) > 0 {
			unsettled = append(unsettled, c.Namespace.ID.Ino)
		}
		res.Namespaces = append(res.Namespaces, r)
	}
	if readSettings != nil && len(unsettled) > 0 {
		res.Errors = append(res.Errors, readSettings(cur, unsettled)...)
		for i := range res.Namespaces {
			r := &res.Namespaces[i]
			if slices.Contains(unsettled, r.Namespace.ID.Ino) {
				r.Report = policy.AnalyzeWith(r.Delta, policy.Settings{}, o.Policy) // Delta.Cur has them now
			}
		}
	}
	resolver := owner.NewResolver(o.Owner)
	for i := range res.Namespaces {
		r := &res.Namespaces[i]
		if o.Check {
			if err := policy.Check(r.Report, r.Delta); err != nil {
				return nil, fmt.Errorf("report of netns %s breaks the invariants: %w", r.Namespace.ID, err)
			}
		}
		ns := r.Namespace
		r.Owner = resolver.Namespace(ctx, &ns)
	}
	scopes := make([]socketScope, len(res.Namespaces))
	for i := range res.Namespaces {
		scopes[i] = socketScope{report: res.Namespaces[i].Report, pids: res.Namespaces[i].Namespace.PIDs}
	}
	nameSocketOwners(ctx, scopes, o.ProcRoot, func() *owner.Resolver { return resolver })
	namePeers(res)
	return res, nil
}

// Measure samples, waits (wait returns when the interval is over, or ctx's error), samples
// again and analyzes the interval.
func (n *Node) Measure(ctx context.Context, wait func(context.Context) error) (*NodeResult, error) {
	first, err := n.Sample()
	if err != nil {
		return nil, err
	}
	if err := wait(ctx); err != nil {
		return nil, err
	}
	second, err := n.Sample()
	if err != nil {
		return nil, err
	}
	return n.Analyze(ctx, first, second)
}

// Close releases every namespace the run holds and detaches the probes.
func (n *Node) Close() {
	if n.col != nil {
		n.col.Close()
	}
	if n.probes != nil {
		n.probes.Close()
	}
	for ino, h := range n.handles {
		h.Close()
		delete(n.handles, ino)
	}
	if n.locks != nil {
		n.locks.Close()
	}
}
