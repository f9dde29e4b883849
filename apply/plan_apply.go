package apply

import (
	"fmt"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/model"
)

// DryRunReviewedNode is DryRun of a node's reviewed plan (ApplyReviewedNode).
func (a *Applier) DryRunReviewedNode(p []NamespacePlan) (*Result, error) {
	np, err := a.reviewedNodePlan(p)
	if err != nil {
		return nil, err
	}
	defer np.close()
	res, err := a.dryRun(np.plan, true, np.targets)
	if res != nil {
		res.Steps = append(res.Steps, np.gone...)
	}
	return res, err
}

// ApplyReviewedNode applies a node's reviewed plan (apply --plan of a NodeSchema document)
// exactly, as ApplyReviewed does one namespace's: each action only while its knob holds the
// value the plan saw, in one journaled run like ApplyNode. Each namespace is found again by
// its inode and owner (pod UID, else container; with no owner, by the name or path the plan
// gave it): one whose inode is gone, or now names another namespace, is a DecideGone step
// per action, one line each, and nothing of it is written — never another pod's settings.
// The others are entered through a handle checked to be that inode, as ApplyNode does; a
// global knob is one step, however many namespaces proposed it.
func (a *Applier) ApplyReviewedNode(p []NamespacePlan) (*Result, error) {
	np, err := a.reviewedNodePlan(p)
	if err != nil {
		return nil, err
	}
	defer np.close()
	res, err := a.apply(np.plan, true, np.targets)
	if res != nil {
		res.Steps = append(res.Steps, np.gone...)
	}
	return res, err
}

// reviewedNodePlan finds every namespace of the plan again and lists its actions with their
// targets, as nodePlan does for a node run; the actions of namespaces that are gone (or are
// not nettune's own any more, for the plan's own) are steps of np.gone.
func (a *Applier) reviewedNodePlan(p []NamespacePlan) (*nodePlan, error) {
	ownIno, err := selfNetnsIno(a.o.Env.ProcRoot)
	if err != nil {
		return nil, err
	}
	loc := newLocator(a.o.Env)
	np := &nodePlan{}
	ok := make([]*target, len(p))
	alive := make([]bool, len(p))
	whyGone := make([]string, len(p))
	for i := range p {
		ns := &p[i]
		if ns.Own {
			alive[i] = ns.Inode == ownIno
			if !alive[i] {
				whyGone[i] = fmt.Sprintf("the plan's own netns net:[%d] is not nettune's own now (net:[%d])", ns.Inode, ownIno)
			}
			continue
		}
		if ns.Inode == ownIno {
			whyGone[i] = fmt.Sprintf("netns %s is nettune's own now: it was another when the plan was made", ns.Ref)
			continue
		}
		t, why, err := a.reviewedTarget(loc, ns)
		if err != nil {
			np.close()
			return nil, err
		}
		if t != nil {
			np.handles = append(np.handles, t)
		}
		ok[i], alive[i], whyGone[i] = t, t != nil, why
	}
	global := map[string]int{} // knob → index in np.plan
	for i := range p {
		if !alive[i] {
			continue
		}
		for _, act := range p[i].Actions {
			act.Findings = slices.Clone(act.Findings)
			if act.Scope == model.ScopeGlobal {
				if j, dup := global[act.Knob]; dup {
					for _, f := range act.Findings {
						if !slices.Contains(np.plan[j].Findings, f) {
							np.plan[j].Findings = append(np.plan[j].Findings, f)
						}
					}
					continue
				}
				global[act.Knob] = len(np.plan)
				np.plan, np.targets = append(np.plan, act), append(np.targets, nil)
				continue
			}
			if t := ok[i]; t != nil {
				act.Netns = netnsRefOf(loc, t.ino) // the command to enter it is made from it (decide)
			}
			np.plan, np.targets = append(np.plan, act), append(np.targets, ok[i])
		}
	}
	for i := range p {
		if alive[i] {
			continue
		}
		for _, act := range p[i].Actions {
			if _, dup := global[act.Knob]; dup && act.Scope == model.ScopeGlobal {
				continue // proposed by a namespace that is still there too
			}
			if act.Scope != model.ScopeGlobal {
				act.Netns = p[i].Ref
			}
			np.gone = append(np.gone, Step{Action: act, Decision: DecideGone, NetnsIno: p[i].Inode,
				NetnsOwner: p[i].Owner, Note: whyGone[i] + ": not applied"})
		}
	}
	return np, nil
}

// reviewedTarget finds the namespace of a plan again: nil and why when it is gone (no
// namespace has its inode, or the one that has it is not the one measured), else a target
// holding a checked handle on it. An error is one of discovery itself.
func (a *Applier) reviewedTarget(loc *locator, ns *NamespacePlan) (*target, string, error) {
	e := Entry{Netns: ns.Ref, NetnsIno: ns.Inode, NetnsOwner: ns.Owner}
	why, err := loc.gone(e)
	if err != nil || why != "" {
		return nil, why, err
	}
	found, _ := loc.snap.Lookup(ns.Inode)
	h, err := found.Open()
	if err != nil {
		return nil, "netns " + ns.Ref + " could not be entered: " + err.Error(), nil
	}
	return &target{ino: ns.Inode, owner: ns.Owner, h: h}, "", nil
}

// netnsRefOf is how commands and the journal name the namespace with the inode now (netnsRef).
func netnsRefOf(loc *locator, ino uint64) string {
	ns, _ := loc.snap.Lookup(ino)
	return netnsRef(ns)
}

// selfNetnsIno is the inode of nettune's own network namespace.
func selfNetnsIno(procRoot string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procRoot, "self", "ns", "net"), &st); err != nil {
		return 0, fmt.Errorf("own netns: %w", err)
	}
	return st.Ino, nil
}
