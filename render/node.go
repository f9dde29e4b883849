package render

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// nodeView orders a node's namespaces for every output: those with loss first, the worst
// (fastest capacity loss) first; then those with other drops worth a finding (policy drops,
// warnings), then the quiet ones in discovery order (host first).
type nodeView struct {
	res   *pipeline.NodeResult
	lossy []*pipeline.NamespaceResult // capacity loss (Report.Loss), worst first
	noted []*pipeline.NamespaceResult // no capacity loss, but a warning finding
	quiet []*pipeline.NamespaceResult
	// worst is the namespace whose verdict is the node's: the worst lossy one, else the
	// first noted one, else nettune's own (which holds what could not be measured host-wide).
	worst *pipeline.NamespaceResult
}

func newNodeView(res *pipeline.NodeResult) nodeView {
	v := nodeView{res: res}
	for i := range res.Namespaces {
		ns := &res.Namespaces[i]
		switch {
		case ns.Report.Loss():
			v.lossy = append(v.lossy, ns)
		case warned(ns.Report):
			v.noted = append(v.noted, ns)
		default:
			v.quiet = append(v.quiet, ns)
		}
	}
	slices.SortStableFunc(v.lossy, func(a, b *pipeline.NamespaceResult) int {
		return cmp.Compare(lossRate(b.Report), lossRate(a.Report))
	})
	switch {
	case len(v.lossy) > 0:
		v.worst = v.lossy[0]
	case len(v.noted) > 0:
		v.worst = v.noted[0]
	default:
		for i := range res.Namespaces {
			if res.Namespaces[i].Own {
				v.worst = &res.Namespaces[i]
			}
		}
		if v.worst == nil && len(res.Namespaces) > 0 {
			v.worst = &res.Namespaces[0]
		}
	}
	return v
}

// shown are the namespaces that get a block: lossy, then noted.
func (v nodeView) shown() []*pipeline.NamespaceResult {
	return append(slices.Clip(v.lossy), v.noted...)
}

// interval is the node's interval: every namespace is read at the same two instants.
func (v nodeView) interval() float64 {
	if v.worst == nil {
		return 0
	}
	return v.worst.Report.IntervalSeconds
}

// warned: a finding of warning severity or worse that is not capacity loss.
func warned(r *policy.Report) bool {
	for _, f := range r.Findings {
		if f.Severity >= policy.SeverityWarning {
			return true
		}
	}
	return false
}

// lossRate is a namespace's fastest capacity loss, what orders the lossy namespaces.
func lossRate(r *policy.Report) float64 {
	var top float64
	for _, f := range r.Findings {
		if f.Severity >= policy.SeverityWarning && f.Class == stage.ClassCapacity {
			top = max(top, f.DropRate)
		}
	}
	return top
}

// gone is the line counting namespaces that vanished or appeared in the interval; "" when
// none did.
func gone(res *pipeline.NodeResult) string {
	v, a := len(res.Vanished), len(res.Appeared)
	switch {
	case v > 0 && a > 0:
		return fmt.Sprintf("%s during the interval (left out); %d appeared (examined from the next interval).",
			plural(uint64(v), "namespace vanished", "namespaces vanished"), a)
	case v > 0:
		return plural(uint64(v), "namespace", "namespaces") + " vanished during the interval (left out)."
	case a > 0:
		return plural(uint64(a), "namespace", "namespaces") + " appeared during the interval (examined from the next interval)."
	}
	return ""
}

// inBlock is a namespace's report as its block shows it: the block and the verdict name the
// namespace already, so its findings and funnels do not repeat its path.
func inBlock(r *policy.Report) *policy.Report {
	c := *r
	c.Findings = slices.Clone(r.Findings)
	for i := range c.Findings {
		c.Findings[i].Netns = ""
	}
	c.Funnel = slices.Clone(r.Funnel)
	for i := range c.Funnel {
		c.Funnel[i].Netns = ""
	}
	return &c
}
