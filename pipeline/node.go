package pipeline

import (
	"context"
	"fmt"
	"path/filepath"

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

// OpenNode prepares a run over every namespace. Probes are not attached by a Node yet:
// Options.Probes is refused rather than ignored.
func OpenNode(o Options) (*Node, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Probes {
		return nil, fmt.Errorf("node run: in-path probes are not attached per namespace yet")
	}
	if o.Owner.ProcRoot == "" {
		o.Owner.ProcRoot = o.ProcRoot
	}
	col, err := collect.NewNode(collect.NodeOptions{ProcRoot: o.ProcRoot, SysRoot: o.SysRoot,
		SettingsEvery: o.SettingsEvery, Kernel: o.Kernel, Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	procRoot := o.ProcRoot
	return &Node{o: o, col: col,
		meta: Meta{Mode: ModeCounters,
			Host:   firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "hostname")),
			Kernel: firstLine(filepath.Join(o.ProcRoot, "sys", "kernel", "osrelease"))},
		discover: func() (*netnsfind.Snapshot, error) { return netnsfind.Discover(procRoot) },
	}, nil
}

// Meta is how the run measures before any interval.
func (n *Node) Meta() Meta { return n.meta }

// Sample discovers the namespaces and samples every one.
func (n *Node) Sample() (*collect.NodeSample, error) {
	snap, err := n.discover()
	if err != nil {
		return nil, fmt.Errorf("discover namespaces: %w", err)
	}
	return n.col.Sample(snap)
}

// Analyze turns the interval from prev to cur into one result per namespace present at both
// ends, each with its owner (one owner.Resolver per interval, so new pods are named).
func (n *Node) Analyze(ctx context.Context, prev, cur *collect.NodeSample) (*NodeResult, error) {
	return AnalyzeNode(ctx, n.meta, prev, cur, n.o)
}

// AnalyzeNode is Node.Analyze for samples from anywhere (tests, recordings).
func AnalyzeNode(ctx context.Context, meta Meta, prev, cur *collect.NodeSample, o Options) (*NodeResult, error) {
	res := &NodeResult{Meta: meta, Errors: append(prev.Errors[:len(prev.Errors):len(prev.Errors)], cur.Errors...)}
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
	resolver := owner.NewResolver(o.Owner)
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
		if o.Check {
			if err := policy.Check(r.Report, d); err != nil {
				return nil, fmt.Errorf("report of netns %s breaks the invariants: %w", c.Namespace.ID, err)
			}
		}
		r.Owner = resolver.Namespace(ctx, &c.Namespace)
		res.Namespaces = append(res.Namespaces, r)
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

// Close releases every namespace the run holds.
func (n *Node) Close() { n.col.Close() }
