package pipeline

import (
	"math"

	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/policy"
)

// StageTotal is what one funnel stage counted since its counters started.
type StageTotal struct {
	Stage             stage.Stage
	In, Out, Dropped  uint64
	InKnown, OutKnown bool // In (Out) is a measurement, not an absent one
}

// FunnelTotal is the totals of one funnel: an interface and direction (and queue), or the
// namespace's socket layer (Interface "").
type FunnelTotal struct {
	Interface, Netns, Dir string
	Queue                 *int
	Stages                []StageTotal
}

// Totals is the funnel of everything counted up to the end of the interval: the policy's
// funnel over the delta from a sample of zeros (model.Sample.Zero) to the interval's last
// sample. These are what Prometheus counters export, and they keep counting between two runs:
// the kernel's counters count since boot (or the driver's load, or the namespace's creation)
// whoever reads them. The in-path counts of the probes count only while the probes are
// attached, so they are included only when probes is true: for a process that keeps them
// attached from one interval to the next (serve). A one-shot run (advise) attaches them for its
// interval only; its totals would restart at every run.
func (res *Result) Totals(probes bool) []FunnelTotal {
	if res.Delta == nil || res.Delta.Cur == nil {
		return nil
	}
	cur := res.Delta.Cur
	if !probes && cur.InPath != nil {
		c := *cur
		c.InPath = nil
		cur = &c
	}
	cfg := res.policy
	if cfg.Step == 0 {
		cfg = policy.DefaultConfig()
	}
	zero := cur.Zero()
	d, err := diff(zero, cur)
	if err != nil {
		return nil // unreachable: Zero is one second before cur
	}
	rep := policy.AnalyzeWith(d, policy.Settings{}, cfg)
	out := make([]FunnelTotal, len(rep.Funnel))
	for i, f := range rep.Funnel {
		ft := FunnelTotal{Interface: f.Interface, Netns: f.Netns, Dir: f.Dir, Queue: f.Queue,
			Stages: make([]StageTotal, len(f.Stages))}
		for j, s := range f.Stages {
			// Over Zero's one-second interval the funnel's per-second figures are counts.
			ft.Stages[j] = StageTotal{Stage: s.Stage, In: count(s.InRate), Out: count(s.OutRate),
				Dropped: count(s.DropRate), InKnown: s.InKnown, OutKnown: s.OutKnown}
		}
		out[i] = ft
	}
	return out
}

func count(perSecond float64) uint64 { return uint64(math.Round(max(perSecond, 0))) }
