package apply

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/policy"
)

// Rollback restores what nettune changed, newest change first: id "" undoes every live
// change (each knob back to the oldest original nettune recorded), otherwise only the
// changes of that apply. Knobs someone else changed since are left alone and reported.
func (a *Applier) Rollback(id string) (*Result, error) {
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
	if id != "" && !r.hist.applies[id] {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJournalID, id)
	}
	res := &Result{ID: r.id}
	for _, u := range r.hist.undoPlan(id) {
		st, refs := r.undoStep(u, OpRestore, "rollback")
		res.Steps = append(res.Steps, st)
		if st.Decision != DecideChange {
			continue
		}
		if err := r.change(&res.Steps[len(res.Steps)-1], OpRestore, refs); err != nil {
			res.Persist, err = r.persist(err)
			return res, err
		}
	}
	if r.seq == 0 {
		res.ID = ""
	}
	for _, st := range res.Steps {
		if st.Decision == DecideFailed && err == nil {
			// Unreadable knobs were skipped so the others could still be restored.
			err = &ChangeError{Op: OpRestore, ID: res.ID, Knob: knobName(st.Knob, st.Netns),
				Done: r.done, Err: errors.New(st.Error)}
		}
	}
	// Settings undone are no longer persisted: the sysctl.d file loses them.
	res.Persist, err = r.persist(err)
	return res, err
}

// undo is one knob of one namespace to put back.
type undo struct {
	key     string
	entries []int // live set entries undone, journal order
	blocked string
	// ino and owner identify the namespace, from the latest entries that record them.
	ino   uint64
	owner *NetnsOwner
}

// first is the oldest entry an undo puts back, with the namespace's identity of the undo.
func (h *history) first(u undo) Entry {
	e := h.entries[u.entries[0]]
	if u.ino != 0 {
		e.NetnsIno, e.NetnsOwner = u.ino, u.owner
	}
	return e
}

// undoPlan lists the knobs to restore, newest change first: one undo per knob and
// namespace. A name or path reused by a new namespace is another namespace, with changes of
// its own: the live changes of a knob split where their recorded inode changes (entries
// from before inodes were recorded go with the namespace after them).
func (h *history) undoPlan(id string) []undo {
	var out []undo
	for key, live := range h.live {
		var groups []*undo
		var u *undo
		for _, i := range live {
			e := h.entries[i]
			if u == nil || (e.NetnsIno != 0 && u.ino != 0 && e.NetnsIno != u.ino) {
				u = &undo{key: key}
				groups = append(groups, u)
			}
			if e.NetnsIno != 0 {
				u.ino = e.NetnsIno
			}
			if e.NetnsOwner != nil {
				u.owner = e.NetnsOwner
			}
			if id == "" || e.Apply == id {
				u.entries = append(u.entries, i)
				continue
			}
			if len(u.entries) > 0 {
				u.blocked = "changed again by " + e.Apply + ": roll that back first"
			}
		}
		for _, u := range groups {
			if len(u.entries) > 0 {
				out = append(out, *u)
			}
		}
	}
	last := func(u undo) int { return u.entries[len(u.entries)-1] }
	sort.Slice(out, func(i, j int) bool { return last(out[i]) > last(out[j]) })
	return out
}

// undoStep decides how to put one knob back to the oldest original of the undone entries.
func (r *run) undoStep(u undo, op Op, why string) (Step, []Ref) {
	first := r.hist.first(u)
	st := Step{Action: policy.Action{Knob: first.Knob, Netns: first.Netns, Proposed: first.Old, Why: why}}
	refs := make([]Ref, len(u.entries))
	for n, i := range u.entries {
		refs[n] = r.hist.entries[i].ref()
	}
	if u.blocked != "" {
		st.Decision, st.Note = DecideAdvice, u.blocked
		return st, nil
	}
	if _, err := live.Parse(first.Knob, first.Netns, r.a.o.Env); err != nil {
		st.Decision, st.Note = DecideAdvice, err.Error()
		return st, nil
	}
	if first.NetnsIno != 0 {
		gone, err := r.locator().gone(first)
		if err != nil {
			st.Decision, st.Error = DecideFailed, err.Error()
			return st, nil
		}
		if gone != "" {
			r.goneStep(&st, first, r.hist.entries[u.entries[len(u.entries)-1]], refs, gone)
			return st, nil
		}
		h, err := r.locator().handle(first)
		if err != nil {
			st.Decision, st.Error = DecideFailed, err.Error()
			return st, nil
		}
		st.t = &target{ino: first.NetnsIno, owner: first.NetnsOwner, h: h}
		st.NetnsIno, st.NetnsOwner = first.NetnsIno, first.NetnsOwner
	}
	k, err := st.parse(r.a.o.Env)
	if err != nil {
		st.Decision, st.Note = DecideAdvice, err.Error()
		return st, nil
	}
	st.k, st.Scope, st.Disruptive, st.Command = k, k.Scope(), k.Disruptive(), k.Command(first.Old)
	cur, err := k.Read()
	if err != nil {
		st.Decision, st.Error = DecideFailed, err.Error()
		return st, nil
	}
	st.Current = cur
	if drift, ours := r.hist.drifted(k, u.key, first.NetnsIno, cur); drift {
		st.Decision, st.Note = DecideAdvice, "changed by someone else since nettune set it to "+ours+": left alone"
		return st, nil
	}
	if k.Compare(cur, first.Old) == live.Equal {
		// Already back (a crash before the write): record the undo without writing.
		st.Decision = DecideUnchanged
		r.seq++
		st.Seq = r.seq
		e := Entry{Apply: r.id, Seq: r.seq, Op: op, Knob: first.Knob, Netns: first.Netns,
			NetnsIno: first.NetnsIno, NetnsOwner: first.NetnsOwner, Old: cur,
			New: first.Old, Got: cur, Reason: why, Time: r.a.o.Now(), State: StateDone, Undoes: refs}
		if err := r.j.append(e); err != nil {
			st.Decision, st.Error = DecideFailed, err.Error()
		}
		return st, nil
	}
	st.Decision = DecideChange
	return st, refs
}

// KnobStatus is one knob nettune changed and has not undone.
type KnobStatus struct {
	Knob  string `json:"knob"`
	Netns string `json:"netns,omitempty"`
	// NetnsIno and NetnsOwner identify a namespace other than nettune's own (version 4
	// journals record the owner).
	NetnsIno   uint64      `json:"netns_ino,omitempty"`
	NetnsOwner *NetnsOwner `json:"netns_owner,omitempty"`
	Original   string      `json:"original"` // what nettune found before its first change
	Written    string      `json:"written"`  // what nettune last wrote (as read back)
	Current    string      `json:"current"`
	Drift      bool        `json:"drift"` // someone else changed it since
	Apply      string      `json:"apply"`
	Time       time.Time   `json:"time"`
	Reason     string      `json:"reason"`
	State      State       `json:"state"`
	Error      string      `json:"error,omitempty"` // the knob could not be read now
	// Persisted is the value the knob gets at boot, when it was applied with --persist: from
	// nettune's sysctl.d file for a sysctl, from the journal (nettune restore) otherwise.
	Persisted   string `json:"persisted,omitempty"`
	PersistNote string `json:"persist_note,omitempty"` // why the boot value is not what nettune persisted
}

// Status is what nettune changed and has not undone, newest first.
type Status struct {
	Knobs []KnobStatus `json:"knobs"`
}

// goneStep records that the namespace of a knob's live changes no longer exists: the
// journal closes them (OpGone, nothing written) so neither rollback nor status names them
// again, and the run goes on with the other knobs.
func (r *run) goneStep(st *Step, first, last Entry, refs []Ref, why string) {
	st.Decision, st.Note = DecideGone, why+": nothing to restore"
	st.NetnsIno, st.NetnsOwner = first.NetnsIno, first.NetnsOwner
	was := last.Got
	if was == "" || last.State != StateDone {
		was = last.New
	}
	r.seq++
	st.Seq = r.seq
	e := Entry{Apply: r.id, Seq: r.seq, Op: OpGone, Knob: first.Knob, Netns: first.Netns,
		NetnsIno: first.NetnsIno, NetnsOwner: first.NetnsOwner, Old: was, New: first.Old,
		Reason: why, Time: r.a.o.Now(), State: StateDone, Undoes: refs}
	if err := r.j.append(e); err != nil {
		st.Decision, st.Error = DecideFailed, err.Error()
	}
}

// Status reads the journal and every knob it names; it takes no lock and needs no root, but
// it needs to read the state dir (ErrStateUnreadable).
func (a *Applier) Status() (*Status, error) {
	d, err := a.openState()
	if err != nil {
		return nil, err
	}
	lines, err := loadJournal(d)
	if d != nil {
		d.Close()
	}
	if err != nil {
		return nil, err
	}
	h := buildHistory(lines)
	loc := newLocator(a.o.Env)
	defer loc.close()
	pf := readPersistFile(a.persistPath())
	s := &Status{Knobs: []KnobStatus{}}
	for _, u := range h.undoPlan("") {
		first, last := h.first(u), h.entries[u.entries[len(u.entries)-1]]
		ks := KnobStatus{Knob: last.Knob, Netns: last.Netns, NetnsIno: first.NetnsIno, NetnsOwner: first.NetnsOwner, Original: first.Old, Written: last.Got,
			Apply: last.Apply, Time: last.Time, Reason: last.Reason, State: last.State}
		if ks.Written == "" {
			ks.Written = last.New
		}
		ks.Current, err = loc.read(first)
		var k live.Knob
		if err == nil {
			k, err = live.Parse(last.Knob, last.Netns, a.o.Env)
		}
		if err != nil {
			ks.Error = err.Error()
		} else {
			ks.Drift, _ = h.drifted(k, u.key, first.NetnsIno, ks.Current)
		}
		ks.Persisted, ks.PersistNote = h.persistStatus(u.key, pf)
		s.Knobs = append(s.Knobs, ks)
	}
	return s, nil
}
