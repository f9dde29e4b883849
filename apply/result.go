package apply

import (
	"time"
)

// Changed counts the steps that were written (or would be, in a dry run).
func (r *Result) Changed() int {
	n := 0
	for _, s := range r.Steps {
		if s.Decision == DecideChange {
			n++
		}
	}
	return n
}

// AutoResult is one auto run (render.Auto writes it: one log line per action).
type AutoResult struct {
	Time     time.Time    `json:"time"`
	ID       string       `json:"id,omitempty"`       // journal id of this run's changes and reverts
	Baseline string       `json:"baseline,omitempty"` // set when the run only saved a sample
	Findings int          `json:"findings"`
	Actions  []AutoAction `json:"actions"`
	// Persist is what the run did to nettune's sysctl.d file (auto with apply.persist, or a
	// revert of a persisted change); nil when nothing.
	Persist *PersistResult `json:"persist,omitempty"`
}

// AutoAction is one thing auto mode did or declined to do.
type AutoAction struct {
	// Kind: change, revert, kept (a change that helped), wait (persistence, cooldown or
	// judgement pending), advice (nettune will not change it), unchanged, skip, failed.
	Kind  string `json:"kind"`
	Knob  string `json:"knob"`
	Netns string `json:"netns,omitempty"`
	// NetnsOwner is who owns that namespace, in a run over the node (AutoNode).
	NetnsOwner *NetnsOwner `json:"netns_owner,omitempty"`
	From       string      `json:"from,omitempty"`
	To         string      `json:"to,omitempty"`
	Why        string      `json:"why"`
}

func (r *AutoResult) add(kind, k, ns, from, to, why string) {
	r.Actions = append(r.Actions, AutoAction{Kind: kind, Knob: k, Netns: ns, From: from, To: to, Why: why})
}

func (r *AutoResult) addStep(kind string, s Step) {
	why := s.Why
	for _, extra := range []string{s.Note, s.Error} {
		if extra != "" {
			why += "; " + extra
		}
	}
	to := s.Proposed
	if s.Got != "" {
		to = s.Got
	}
	r.add(kind, s.Knob, s.Netns, s.Current, to, why)
	r.Actions[len(r.Actions)-1].NetnsOwner = s.NetnsOwner
}

// Count is how many actions of a kind the run had.
func (r *AutoResult) Count(kind string) int {
	n := 0
	for _, a := range r.Actions {
		if a.Kind == kind {
			n++
		}
	}
	return n
}
