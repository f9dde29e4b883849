package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// AutoConfig bounds periodic remediation.
type AutoConfig struct {
	// Hysteresis is how many consecutive runs a finding must appear in before nettune acts.
	Hysteresis int `mapstructure:"hysteresis" json:"hysteresis"`
	// Cooldown is the least time between two changes of the same knob.
	Cooldown time.Duration `mapstructure:"cooldown" json:"cooldown"`
	// RevertBelow is the fraction by which the targeted stage's loss rate must fall after
	// a change; a change that does worse is reverted.
	RevertBelow float64 `mapstructure:"revert_below" json:"revert_below"`
}

// DefaultAutoConfig: act on loss seen in 3 runs in a row (docs/rules.md §3), at most one change
// per knob per hour, keep changes that halve the loss (configs/nettune.yaml).
func DefaultAutoConfig() AutoConfig {
	return AutoConfig{Hysteresis: 3, Cooldown: time.Hour, RevertBelow: 0.5}
}

// Validate says which value is wrong.
func (c AutoConfig) Validate() error {
	switch {
	case c.Hysteresis < 1:
		return fmt.Errorf("%w: apply.hysteresis: must be ≥ 1", policy.ErrConfig)
	case c.Cooldown < 0:
		return fmt.Errorf("%w: apply.cooldown: must be ≥ 0", policy.ErrConfig)
	case c.RevertBelow <= 0 || c.RevertBelow > 1:
		return fmt.Errorf("%w: apply.revert_below: must be in (0, 1]", policy.ErrConfig)
	}
	return nil
}

// autoState is what auto mode remembers between runs (auto.json in the state dir).
type autoState struct {
	Streaks map[string]int    `json:"streaks"` // finding ID → consecutive runs it appeared in
	Judge   []judgement       `json:"judge"`   // changes whose effect is not judged yet
	NoHelp  map[string]nohelp `json:"no_help"` // knob key → a value that was reverted
}

// judgement is a change waiting for the next interval to show whether loss fell.
type judgement struct {
	Ref
	Knob     string      `json:"knob"`
	Netns    string      `json:"netns,omitempty"`
	Old      string      `json:"old"`
	New      string      `json:"new"`
	Stage    stage.Stage `json:"stage"`
	Iface    string      `json:"interface,omitempty"`
	LossNs   string      `json:"loss_netns,omitempty"`
	Findings []string    `json:"findings"`
	Baseline float64     `json:"baseline"` // loss rate at the stage when the change was made
	Since    time.Time   `json:"since"`    // time of the sample the change was decided on
	// Settle is how long after Since the change takes to show (policy.Action.SettleSeconds):
	// only an interval that starts after Since+Settle judges it.
	Settle time.Duration `json:"settle,omitempty"`
}

// nohelp is a value auto mode will not try again while the findings that led to it persist.
type nohelp struct {
	Value    string   `json:"value"`
	Findings []string `json:"findings"`
}

// Analysis turns the interval between two samples into a report: pipeline.Run.Findings
// (or Analyze).
type Analysis func(prev, cur *model.Sample) (*pipeline.Result, error)

// Auto is one periodic remediation run: take the interval since the previous run's sample,
// judge earlier changes (revert those that did not cut the loss), then act on findings
// that persisted and knobs whose cooldown has passed.
func (a *Applier) Auto(cur *model.Sample, analyze Analysis) (*AutoResult, error) {
	dir, release, err := a.begin()
	if err != nil {
		return nil, err
	}
	defer release()
	// The journal is checked on every run, a baseline run too: a bad one stops auto mode at
	// once, not a run later.
	r := &run{a: a}
	if err := r.open(dir, &cur.IRQBalance); err != nil {
		return nil, err
	}
	defer r.close()
	res := &AutoResult{Time: a.o.Now(), Actions: []AutoAction{}}
	prev, err := loadSample(dir)
	if err != nil {
		return nil, err
	}
	st, err := loadAutoState(dir)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		res.Baseline = "first run: sample saved, acting from the next run"
		return res, saveSample(dir, cur)
	}
	an, err := analyze(prev, cur)
	if errors.Is(err, model.ErrOrder) {
		res.Baseline = "sample not newer than the saved one: baseline reset"
		return res, saveSample(dir, cur)
	}
	if err != nil {
		return nil, err
	}
	rep, d := an.Report, an.Delta
	res.Findings = len(rep.Findings)
	st.countStreaks(rep)

	runErr := r.judge(st, rep, d, res)
	if runErr == nil {
		runErr = r.act(st, rep, nil, cur.Time, res)
	}
	if r.seq > 0 {
		res.ID = r.id
	}
	res.Persist, runErr = r.persist(runErr)
	// State and sample are saved even after a failed change: the journal already holds it.
	if err := saveAutoState(dir, st); err != nil {
		return res, errors.Join(runErr, err)
	}
	return res, errors.Join(runErr, saveSample(dir, cur))
}

func (s *autoState) countStreaks(rep *policy.Report) {
	next := make(map[string]int, len(rep.Findings))
	for _, f := range rep.Findings {
		next[f.ID] = s.Streaks[f.ID] + 1
	}
	s.Streaks = next
	for key, nh := range s.NoHelp {
		if !s.anySeen(nh.Findings) { // the loss went away: the value may help another time
			delete(s.NoHelp, key)
		}
	}
}

func (s *autoState) anySeen(ids []string) bool {
	for _, id := range ids {
		if s.Streaks[id] > 0 {
			return true
		}
	}
	return false
}

// stageLoss is the loss rate a report shows at the stage a change targeted.
func stageLoss(rep *policy.Report, st stage.Stage, iface, ns string) float64 {
	var sum float64
	for _, f := range rep.Findings {
		if f.Stage == st && f.Netns == ns && (iface == "" || f.Interface == iface) {
			sum += f.DropRate
		}
	}
	return sum
}

// judge looks at changes made by earlier runs: kept when the targeted loss fell enough,
// reverted (and remembered as no help) otherwise.
func (r *run) judge(st *autoState, rep *policy.Report, d *model.Delta, res *AutoResult) error {
	var waiting []judgement
	for _, j := range st.Judge {
		if d.Prev.Time.Before(j.Since.Add(j.Settle)) {
			waiting = append(waiting, j)
			continue
		}
		loss := stageLoss(rep, j.Stage, j.Iface, j.LossNs)
		key := knobKey(j.Netns, j.Knob)
		if loss <= j.Baseline*(1-r.a.o.Auto.RevertBelow) {
			res.add("kept", j.Knob, j.Netns, j.Old, j.New,
				fmt.Sprintf("%s loss fell from %.4g/s to %.4g/s", j.Stage, j.Baseline, loss))
			continue
		}
		why := fmt.Sprintf("%s loss did not fall by %.0f%% (%.4g/s → %.4g/s)",
			j.Stage, r.a.o.Auto.RevertBelow*100, j.Baseline, loss)
		u, ok := r.liveUndo(key, j.Ref)
		if !ok {
			res.add("skip", j.Knob, j.Netns, j.New, j.Old, why+"; already undone")
			continue
		}
		step, refs := r.undoStep(u, OpRevert, why)
		if r.judged == nil {
			r.judged = map[string]bool{}
		}
		r.judged[key] = true
		if step.Decision == DecideChange {
			if err := r.change(&step, OpRevert, refs); err != nil {
				res.addStep("failed", step)
				return err
			}
		}
		kind := map[Decision]string{DecideChange: "revert", DecideUnchanged: "revert"}[step.Decision]
		if kind == "" {
			kind = string(step.Decision)
		}
		res.addStep(kind, step)
		if step.Decision == DecideChange || step.Decision == DecideUnchanged {
			if st.NoHelp == nil {
				st.NoHelp = map[string]nohelp{}
			}
			st.NoHelp[key] = nohelp{Value: j.New, Findings: j.Findings}
		}
	}
	st.Judge = waiting
	return nil
}

// liveUndo is the undo of exactly one live set entry, blocked if nettune changed the knob
// again after it.
func (r *run) liveUndo(key string, ref Ref) (undo, bool) {
	live := r.hist.live[key]
	for n, i := range live {
		if r.hist.entries[i].ref() != ref {
			continue
		}
		u := undo{key: key, entries: []int{i}}
		if n != len(live)-1 {
			u.blocked = "changed again since"
		}
		return u, true
	}
	return undo{}, false
}

// act applies the plan's actions whose findings persisted, whose knob is out of cooldown,
// not waiting for judgement, and not at a value that did not help before. targets, when not
// nil, are where each of rep.Plan's actions is written (AutoNode).
func (r *run) act(st *autoState, rep *policy.Report, targets []*target, sampled time.Time, res *AutoResult) error {
	judging := map[string]bool{}
	for _, j := range st.Judge {
		judging[knobKey(j.Netns, j.Knob)] = true
	}
	var plan []policy.Action
	var to []*target
	for i, act := range rep.Plan {
		k, err := live.Parse(act.Knob, act.Netns, r.a.o.Env)
		if err != nil {
			res.add("advice", act.Knob, act.Netns, act.Current, act.Proposed, err.Error())
			continue
		}
		key := knobKey(k.Netns(), k.ID())
		persisted := 0
		for _, id := range act.Findings {
			persisted = max(persisted, st.Streaks[id])
		}
		switch {
		case persisted < r.a.o.Auto.Hysteresis:
			res.add("wait", act.Knob, act.Netns, act.Current, act.Proposed,
				fmt.Sprintf("finding seen in %d of %d runs needed", persisted, r.a.o.Auto.Hysteresis))
		case judging[key]:
			res.add("wait", act.Knob, act.Netns, act.Current, act.Proposed, "previous change not judged yet")
		case r.judged[key]:
			res.add("wait", act.Knob, act.Netns, act.Current, act.Proposed, "reverted in this run: one change per knob per run")
		case r.a.o.Now().Sub(r.hist.last[key]) < r.a.o.Auto.Cooldown:
			res.add("wait", act.Knob, act.Netns, act.Current, act.Proposed,
				"cooldown until "+r.hist.last[key].Add(r.a.o.Auto.Cooldown).UTC().Format(time.RFC3339))
		case st.NoHelp[key].Value != "" && k.Compare(st.NoHelp[key].Value, act.Proposed) == live.Equal:
			res.add("advice", act.Knob, act.Netns, act.Current, act.Proposed,
				"this value did not cut the loss before and was reverted")
		default:
			plan = append(plan, act)
			if targets != nil {
				to = append(to, targets[i])
			}
		}
	}
	steps := r.a.decide(plan, r.hist, r.own, false, to)
	err := r.execute(steps, OpSet)
	for _, s := range steps {
		res.addStep(string(s.Decision), s)
		if s.Decision != DecideChange || s.Got == "" {
			continue
		}
		j := judgement{Ref: Ref{r.id, s.Seq}, Knob: s.Knob, Netns: s.Netns, Old: s.Current, New: s.Got,
			Findings: s.Findings, Since: sampled, Settle: time.Duration(s.SettleSeconds) * time.Second}
		if f := findingByID(rep, s.Findings); f != nil {
			j.Stage, j.Iface, j.LossNs = f.Stage, f.Interface, f.Netns
			j.Baseline = stageLoss(rep, f.Stage, f.Interface, f.Netns)
		}
		st.Judge = append(st.Judge, j)
	}
	return err
}

func findingByID(rep *policy.Report, ids []string) *policy.Finding {
	for _, id := range ids {
		for i := range rep.Findings {
			if rep.Findings[i].ID == id {
				return &rep.Findings[i]
			}
		}
	}
	return nil
}

// loadSample reads the previous run's sample; nil when there is none or it does not parse.
func loadSample(d *fsx.Dir) (*model.Sample, error) {
	b, err := d.ReadFile(baselineFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("previous sample: %w", err)
	}
	s, err := model.ParseBaseline(b)
	if err != nil {
		return nil, nil // a torn or foreign file only costs one baseline run
	}
	return s, nil
}

// saveSample keeps what the next run diffs against (model.AppendBaseline). It is not
// fsynced: losing it in a crash costs one baseline run, while two fsyncs per timer tick cost
// more than everything else auto mode does.
func saveSample(d *fsx.Dir, s *model.Sample) error {
	b := s.AppendBaseline(nil)
	return d.WriteAtomic(baselineFile, 0o600, false, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

func loadAutoState(d *fsx.Dir) (*autoState, error) {
	st := &autoState{}
	b, err := d.ReadFile(autoFile)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auto state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, &CorruptError{Path: d.Join(autoFile), Why: err.Error()}
	}
	return st, nil
}

// saveAutoState replaces auto.json atomically and durably.
func saveAutoState(d *fsx.Dir, st *autoState) error {
	return d.WriteAtomic(autoFile, 0o600, true, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(st)
	})
}
