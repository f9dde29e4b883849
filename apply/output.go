package apply

import (
	"fmt"
	"strings"
	"time"
)

// String is one line per step, for people and logs.
func (r *Result) String() string {
	var b strings.Builder
	if r.ID != "" {
		fmt.Fprintf(&b, "journal id %s\n", r.ID)
	}
	if r.Degraded != "" {
		fmt.Fprintf(&b, "degraded: %s\n", r.Degraded)
	}
	for _, s := range r.Steps {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

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

// String: "change sysctl:net.core.somaxconn 4096 → 8192 [netns x] (sysctl -w ...): why; note".
func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-9s %s", s.Decision, s.Knob)
	if s.Netns != "" {
		fmt.Fprintf(&b, " [netns %s]", s.Netns)
	}
	if s.Current != "" || s.Proposed != "" {
		fmt.Fprintf(&b, " %s → %s", orDash(s.Current), orDash(s.Proposed))
	}
	if s.Got != "" && s.Got != s.Proposed {
		fmt.Fprintf(&b, " (reads back %s)", s.Got)
	}
	if s.Decision == DecideChange && s.Command != "" {
		fmt.Fprintf(&b, " `%s`", s.Command)
	}
	if s.Why != "" {
		fmt.Fprintf(&b, ": %s", s.Why)
	}
	for _, extra := range []string{s.Note, s.Error} {
		if extra != "" {
			fmt.Fprintf(&b, "; %s", extra)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// String is one line per knob.
func (s *Status) String() string {
	if len(s.Knobs) == 0 {
		return "nettune has no changes in effect\n"
	}
	var b strings.Builder
	for _, k := range s.Knobs {
		fmt.Fprintf(&b, "%s", k.Knob)
		if k.Netns != "" {
			fmt.Fprintf(&b, " [netns %s]", k.Netns)
		}
		fmt.Fprintf(&b, " %s → %s, now %s; %s by %s: %s", k.Original, k.Written, orDash(k.Current),
			k.Time.UTC().Format(time.RFC3339), k.Apply, k.Reason)
		switch {
		case k.Error != "":
			fmt.Fprintf(&b, "; cannot read: %s", k.Error)
		case k.Drift:
			b.WriteString("; DRIFT: changed by someone else since")
		}
		if k.State != StateDone {
			fmt.Fprintf(&b, "; state %s", k.State)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// AutoResult is one auto run, made for logs: one line per action.
type AutoResult struct {
	Time     time.Time    `json:"time"`
	ID       string       `json:"id,omitempty"`       // journal id of this run's changes and reverts
	Baseline string       `json:"baseline,omitempty"` // set when the run only saved a sample
	Findings int          `json:"findings"`
	Actions  []AutoAction `json:"actions"`
}

// AutoAction is one thing auto mode did or declined to do.
type AutoAction struct {
	// Kind: change, revert, kept (a change that helped), wait (persistence, cooldown or
	// judgement pending), advice (nettune will not change it), unchanged, skip, failed.
	Kind  string `json:"kind"`
	Knob  string `json:"knob"`
	Netns string `json:"netns,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Why   string `json:"why"`
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

// String is one log line per action, each prefixed with the run's time.
func (r *AutoResult) String() string {
	ts := r.Time.UTC().Format(time.RFC3339)
	if r.Baseline != "" {
		return fmt.Sprintf("%s auto: %s\n", ts, r.Baseline)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s auto: %d findings, %d actions", ts, r.Findings, len(r.Actions))
	if r.ID != "" {
		fmt.Fprintf(&b, ", journal id %s", r.ID)
	}
	b.WriteByte('\n')
	for _, a := range r.Actions {
		fmt.Fprintf(&b, "%s auto: %s %s", ts, a.Kind, a.Knob)
		if a.Netns != "" {
			fmt.Fprintf(&b, " [netns %s]", a.Netns)
		}
		if a.From != "" || a.To != "" {
			fmt.Fprintf(&b, " %s → %s", orDash(a.From), orDash(a.To))
		}
		fmt.Fprintf(&b, ": %s\n", a.Why)
	}
	return b.String()
}
