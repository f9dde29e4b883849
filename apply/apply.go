package apply

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/policy"
)

// Options configure an Applier; zero values take the defaults.
type Options struct {
	StateDir        string        // DefaultStateDir
	Env             live.Env      // where knobs live (fixture roots in tests)
	ConfRoot        string        // root of the sysctl.d files that pin keys ("/")
	Config          policy.Config // caps, step and allowed knobs (policy.DefaultConfig())
	Auto            AutoConfig    // DefaultAutoConfig()
	AllowDisruptive bool          // permit ring changes and other traffic-interrupting knobs
	// Netns is the namespace the plan was made for (--netns); "" is nettune's own. A global
	// knob changes every namespace of the host: from a plan for one namespace it is only
	// written with AllowGlobal, and is advice otherwise.
	Netns       string
	AllowGlobal bool
	// Persist makes the changes of apply and auto survive a reboot (apply --persist, config
	// apply.persist): sysctls in nettune's own sysctl.d file, other knobs through restore.
	Persist bool
	// PersistFile is nettune's sysctl.d file; "" is ConfRoot/etc/sysctl.d/90-nettune.conf.
	PersistFile string
	// LockTimeout is how long a second run waits for the lock: 0 takes the default (30s), a
	// negative value does not wait.
	LockTimeout time.Duration
	Now         func() time.Time
}

// Applier applies plans, rolls them back and reports their status.
type Applier struct{ o Options }

// New fills in defaults.
func New(o Options) *Applier {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Env.ProcRoot == "" {
		o.Env.ProcRoot = "/proc"
	}
	if o.Env.SysRoot == "" {
		o.Env.SysRoot = "/sys"
	}
	if o.ConfRoot == "" {
		o.ConfRoot = "/"
	}
	if o.Config.Step == 0 {
		o.Config = policy.DefaultConfig()
	}
	if o.Auto == (AutoConfig{}) {
		o.Auto = DefaultAutoConfig()
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Applier{o: o}
}

// Decision is what a run does with one planned action.
type Decision string

const (
	DecideChange    Decision = "change"    // written (or, in a dry run, would be)
	DecideUnchanged Decision = "unchanged" // already at the proposed value
	DecideAdvice    Decision = "advice"    // nettune will not write it; Note says why
	DecideFailed    Decision = "failed"    // the write or its verification failed; the run stopped
	// DecideGone: the namespace of the change no longer exists (rollback): nothing is left to
	// restore, the journal records it, and the run goes on.
	DecideGone Decision = "gone"
)

// Step is one planned action with what the run decided and did. Current and Proposed are
// re-read and re-checked values, Command is the exact shell equivalent.
type Step struct {
	policy.Action
	Decision Decision `json:"decision"`
	Note     string   `json:"note,omitempty"` // why advice, or that the value was clamped
	Got      string   `json:"got,omitempty"`  // read back after the write
	Seq      int      `json:"seq,omitempty"`  // journal sequence number
	Error    string   `json:"error,omitempty"`
	// Persist: the change is made to survive a reboot (apply --persist).
	Persist bool `json:"persist,omitempty"`
	// NetnsIno and NetnsOwner identify the namespace of a step of a node run (or of a
	// rollback of one) that is not nettune's own, as the journal records it.
	NetnsIno   uint64      `json:"netns_ino,omitempty"`
	NetnsOwner *NetnsOwner `json:"netns_owner,omitempty"`
	t          *target     // the kept handle the step reads and writes through

	k      live.Knob
	device string // deviceID of a persisted device or IRQ knob
	// A step of a reviewed plan (apply --plan) and the value the plan was made on
	// (checkReviewed).
	reviewed bool
	seen     string
}

// Result is one apply or dry run.
type Result struct {
	ID     string `json:"id,omitempty"` // journal id; "" when nothing was written
	DryRun bool   `json:"dry_run"`
	Steps  []Step `json:"steps"`
	// Degraded says what the run could not take into account and why (a dry run without
	// root that cannot read the journal).
	Degraded string `json:"degraded,omitempty"`
	// Persist is what the run did to nettune's sysctl.d file; nil when nothing.
	Persist *PersistResult `json:"persist,omitempty"`
}

// DryRun decides every action exactly as Apply would and changes nothing. It needs no root
// and no lock, only read access to the knobs and (if present) the journal. A journal it may
// not read (not root) leaves it degraded: Result.Degraded says so.
func (a *Applier) DryRun(plan []policy.Action) (*Result, error) { return a.dryRun(plan, false, nil) }

// DryRunReviewed is DryRun of a reviewed plan (ApplyReviewed).
func (a *Applier) DryRunReviewed(plan []policy.Action) (*Result, error) {
	return a.dryRun(plan, true, nil)
}

// dryRun decides plan; targets, when not nil, are where each action is written (nodePlan).
func (a *Applier) dryRun(plan []policy.Action, reviewed bool, targets []*target) (*Result, error) {
	res := &Result{DryRun: true}
	d, err := a.openState()
	var lines []Entry
	if err == nil {
		lines, err = loadJournal(d)
		if d != nil {
			d.Close()
		}
	}
	if errors.Is(err, ErrStateUnreadable) {
		res.Degraded = "not checked against nettune's journal, which needs root to read (" + err.Error() +
			"): a knob someone changed since nettune set it may show as a change"
		err = nil
	}
	if err != nil {
		return nil, err
	}
	own, err := readOwners(a.o.ConfRoot, a.o.Env.ProcRoot, nil, a.persistPath())
	if err != nil {
		return nil, err
	}
	res.Steps = a.decide(plan, buildHistory(lines), own, reviewed, targets)
	return res, nil
}

// Apply performs the plan in order and stops at the first failure. Each change is journaled
// (and fsynced) before the write and verified after it.
func (a *Applier) Apply(plan []policy.Action) (*Result, error) { return a.apply(plan, false, nil) }

// ApplyReviewed applies a plan someone reviewed (apply --plan, ReadPlan) exactly: the same
// decisions, caps, ownership and journal as Apply, and each action only while its knob still
// holds the value the plan was made on (its Current); an action whose knob changed since, or
// whose values the knob cannot hold, is refused with a note saying so, and the others go on.
func (a *Applier) ApplyReviewed(plan []policy.Action) (*Result, error) {
	return a.apply(plan, true, nil)
}

func (a *Applier) apply(plan []policy.Action, reviewed bool, targets []*target) (*Result, error) {
	d, release, err := a.begin()
	if err != nil {
		return nil, err
	}
	defer release()
	r := &run{a: a}
	if err := r.open(d, nil); err != nil {
		return nil, err
	}
	defer r.close()
	res := &Result{ID: r.id}
	res.Steps = a.decide(plan, r.hist, r.own, reviewed, targets)
	err = r.execute(res.Steps, OpSet)
	if r.seq == 0 {
		res.ID = ""
	}
	res.Persist, err = r.persist(err)
	return res, err
}

// persist brings nettune's sysctl.d file in line with the journal after a run's changes (even
// a failed run's: the journal holds what it did) and says what it did. A file that could not
// be written fails the run after its changes, which the journal holds.
func (r *run) persist(runErr error) (*PersistResult, error) {
	pr, err := r.a.syncPersist(r.after())
	if err != nil && runErr == nil {
		return pr, &ChangeError{Op: OpSet, ID: r.id, Knob: r.a.persistPath(), Done: r.done, Err: err}
	}
	return pr, runErr
}

// after is the history with the run's own entries.
func (r *run) after() *history {
	return buildHistory(append(slices.Clone(r.lines), r.j.written...))
}

// run is one locked pass over the journal.
type run struct {
	a     *Applier
	id    string
	seq   int
	j     *journal
	hist  *history
	own   *owners
	lines []Entry  // the journal as the run found it (hist folds it)
	done  []string // knobs this run changed, for a ChangeError
	loc   *locator // the namespaces journal entries name (rollback, auto's reverts)
	// judged holds the knobs this auto run already reverted (or tried to): each knob
	// changes at most once per run, and hist predates those writes.
	judged map[string]bool
}

// open reads the owners (irqbalance as in readOwners) and the journal of the locked state
// dir d, and opens the journal for appending.
func (r *run) open(d *fsx.Dir, irqbalance *bool) error {
	var err error
	if r.own, err = readOwners(r.a.o.ConfRoot, r.a.o.Env.ProcRoot, irqbalance, r.a.persistPath()); err != nil {
		return err
	}
	if r.j, r.lines, err = openJournal(d); err != nil {
		return err
	}
	r.hist = buildHistory(r.lines)
	r.id = newID(r.a.o.Now())
	return nil
}

// newID is sortable by time and unique across runs in the same second.
func newID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// testHook lets tests kill the process at a precise point; nil in production.
var testHook func(point string, seq int)

func hook(point string, seq int) {
	if testHook != nil {
		testHook(point, seq)
	}
}

// execute performs the change steps in order, stopping at the first failure.
func (r *run) execute(steps []Step, op Op) error {
	for i := range steps {
		if steps[i].Decision != DecideChange {
			continue
		}
		if err := r.change(&steps[i], op, nil); err != nil {
			return err
		}
	}
	return nil
}

// change journals, writes and verifies one step. undoes names the entries a restore or
// revert undoes.
func (r *run) change(st *Step, op Op, undoes []Ref) error {
	k := st.k
	written := false
	fail := func(err error) error {
		st.Decision, st.Error = DecideFailed, err.Error()
		return &ChangeError{Op: op, ID: r.id, Knob: knobName(st.Knob, st.Netns), Written: written,
			Done: slices.Clone(r.done), Err: err}
	}
	ino, err := st.netnsIno()
	if err != nil {
		return fail(err)
	}
	old, err := k.Read()
	if err != nil {
		return fail(err)
	}
	if k.Compare(old, st.Current) != live.Equal {
		st.Decision, st.Note = DecideAdvice, "changed by someone else during this run ("+st.Current+" → "+old+"): left alone"
		return nil
	}
	r.seq++
	st.Seq = r.seq
	e := Entry{Apply: r.id, Seq: r.seq, Op: op, Knob: st.Knob, Netns: st.Netns, NetnsIno: ino, NetnsOwner: st.NetnsOwner, Old: old,
		New: st.Proposed, Reason: st.Why, Time: r.a.o.Now(), State: StatePending, Undoes: undoes,
		Persist: st.Persist, Device: st.device}
	if err := r.j.append(e); err != nil {
		return fail(err)
	}
	hook("journaled", r.seq)
	var werr error
	if st.t != nil {
		werr = st.t.check()
	}
	if werr == nil {
		werr = k.Write(st.Proposed)
	}
	hook("written", r.seq)
	e.Time = r.a.o.Now()
	if werr != nil {
		e.State, e.Error = StateFailed, werr.Error()
		return fail(joinJournal(werr, r.j.append(e)))
	}
	written = true
	got, err := k.Read()
	if err != nil {
		e.State, e.Error = StateFailed, "read back: "+err.Error()
		return fail(joinJournal(err, r.j.append(e)))
	}
	e.Got, st.Got = got, got
	if !accepted(k, old, st.Proposed, got) {
		e.State = StateFailed
		e.Error = fmt.Sprintf("read back %q: neither %q nor %q", got, old, st.Proposed)
		return fail(joinJournal(fmt.Errorf("%w: %s", ErrVerify, e.Error), r.j.append(e)))
	}
	if k.Compare(got, st.Proposed) != live.Equal {
		st.Note = "kernel adjusted the value to " + got
	}
	e.State = StateDone
	if err := r.j.append(e); err != nil {
		return fail(err)
	}
	hook("recorded", r.seq)
	r.done = append(r.done, knobName(st.Knob, st.Netns))
	return nil
}

// knobName is how messages name a knob: its ID and, when not nettune's own, its namespace.
func knobName(id, netns string) string {
	if netns == "" {
		return id
	}
	return id + " [netns " + netns + "]"
}

// netnsIno is the inode the journal records for the step's namespace: its kept handle's in
// a node run or rollback, else the namespace now at its name or path (apply --netns).
func (st *Step) netnsIno() (uint64, error) {
	if st.t != nil {
		return st.t.ino, nil
	}
	return netnsIno(st.Netns)
}

// locator is the run's locator of recorded namespaces, made when first needed.
func (r *run) locator() *locator {
	if r.loc == nil {
		r.loc = newLocator(r.a.o.Env)
	}
	return r.loc
}

// close closes the journal and every namespace the run held.
func (r *run) close() {
	r.j.close()
	if r.loc != nil {
		r.loc.close()
	}
}

// netnsIno identifies the namespace now at ns (its nsfs inode); 0 for nettune's own.
func netnsIno(ns string) (uint64, error) {
	if ns == "" {
		return 0, nil
	}
	var st unix.Stat_t
	if err := unix.Stat(netns.Path(ns), &st); err != nil {
		return 0, fmt.Errorf("netns %s: %w", ns, err)
	}
	return st.Ino, nil
}

// accepted: the kernel holds the new value, or (for ordered values) rounded or clamped it
// but still moved the same way from the old one (rps_flow_cnt rounds up to a power of two).
func accepted(k live.Knob, old, want, got string) bool {
	if k.Compare(got, want) == live.Equal {
		return true
	}
	dir := k.Compare(want, old)
	return (dir == live.Greater || dir == live.Less) && k.Compare(got, old) == dir
}

func joinJournal(err, jerr error) error {
	if jerr != nil {
		return fmt.Errorf("%w (and the journal could not record it: %w)", err, jerr)
	}
	return err
}
