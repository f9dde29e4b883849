package apply

import (
	"errors"
	"slices"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// DryRunNode is DryRun of the plans of every lossy namespace of a node run (pipeline.Node):
// one result, each step naming the namespace it changes (NodePlan).
func (a *Applier) DryRunNode(nr *pipeline.NodeResult) (*Result, error) {
	np := a.nodePlan(nr)
	defer np.close()
	res, err := a.dryRun(np.plan, false, np.targets)
	if res != nil {
		res.Steps = append(res.Steps, np.gone...)
	}
	return res, err
}

// ApplyNode is Apply of the plans of every lossy namespace of a node run, in one journaled
// run: each namespace's change is written by entering it through a handle kept since the
// plan was made (checked to be the namespace measured), never through a name or /proc path
// that may name another namespace by then. The journal records each namespace by its name or
// path, inode and owner (pod, container). A global knob is one step for the node, however
// many namespaces proposed it.
func (a *Applier) ApplyNode(nr *pipeline.NodeResult) (*Result, error) {
	np := a.nodePlan(nr)
	defer np.close()
	res, err := a.apply(np.plan, false, np.targets)
	if res != nil {
		res.Steps = append(res.Steps, np.gone...)
	}
	return res, err
}

// nodePlan is the plans of a node run's lossy namespaces as one plan: targets[i] is where
// plan[i] is written (nil: nettune's own namespace), gone the steps of namespaces that ended
// since they were measured.
type nodePlan struct {
	plan    []policy.Action
	targets []*target
	gone    []Step
	handles []*target
}

func (np *nodePlan) close() {
	for _, t := range np.handles {
		t.h.Close()
	}
}

// nodePlan opens every lossy namespace other than nettune's own and lists its actions; global
// knobs come once, the first namespace's proposal with every namespace's findings.
func (a *Applier) nodePlan(nr *pipeline.NodeResult) *nodePlan {
	np := &nodePlan{}
	global := map[string]int{} // knob → index in plan
	for _, ns := range nr.Lossy() {
		var t *target
		ref := ""
		if !ns.Own {
			ref = netnsRef(&ns.Namespace)
			h, err := ns.Namespace.Open()
			if err == nil && ref == "" { // nothing names it for a person, so no command could enter it
				h.Close()
				err = errors.New("no process or mount of it is left")
			}
			if err != nil {
				for _, act := range ns.Report.Plan {
					if act.Scope != model.ScopeGlobal {
						act.Netns = ref
						np.gone = append(np.gone, Step{Action: act, Decision: DecideAdvice, NetnsIno: ns.Namespace.ID.Ino,
							NetnsOwner: ownerOf(ns.Owner), Note: "netns " + ref + " could not be entered since it was measured: " + err.Error()})
					}
				}
				continue
			}
			t = &target{ino: ns.Namespace.ID.Ino, owner: ownerOf(ns.Owner), h: h}
			np.handles = append(np.handles, t)
		}
		for _, act := range ns.Report.Plan {
			act.Findings = slices.Clone(act.Findings)
			if act.Scope == model.ScopeGlobal {
				if i, ok := global[act.Knob]; ok {
					for _, f := range act.Findings {
						if !slices.Contains(np.plan[i].Findings, f) {
							np.plan[i].Findings = append(np.plan[i].Findings, f)
						}
					}
					continue
				}
				global[act.Knob] = len(np.plan)
				np.plan, np.targets = append(np.plan, act), append(np.targets, nil)
				continue
			}
			if t != nil {
				act.Netns = ref // the command to enter it is made from it (decide)
			}
			np.plan, np.targets = append(np.plan, act), append(np.targets, t)
		}
	}
	return np
}
