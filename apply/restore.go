package apply

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/policy"
)

// Restore writes again, after a reboot, the device and IRQ knobs changed with --persist (ring
// sizes, RPS masks and flow counts, IRQ affinity, txqueuelen, qdisc limits); persisted sysctls
// come back through nettune's sysctl.d file, which systemd-sysctl applies. Each value comes
// from the journal, checked like every journal value, and is written like every change
// (journaled first, read back), only:
//
//   - to the same device: its MAC address and driver, or the IRQ's handlers, are the ones
//     recorded (deviceID); an interface name or IRQ number now used by other hardware is left
//     alone;
//   - over the value nettune found before its first change, which is what a reboot brings
//     back; any other value is someone else's and is left alone, reported;
//   - not for IRQ affinity while irqbalance runs.
//
// A knob already at its persisted value is unchanged. Restore never lowers a value: the
// original it overwrites is below what nettune wrote.
func (a *Applier) Restore() (*Result, error) {
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
	for _, p := range r.hist.persistedDevices() {
		st := r.restoreStep(p)
		res.Steps = append(res.Steps, st)
		if st.Decision != DecideChange {
			continue
		}
		if err := r.change(&res.Steps[len(res.Steps)-1], OpSet, nil); err != nil {
			return res, err
		}
	}
	if r.seq == 0 {
		res.ID = ""
	}
	return res, nil
}

// persistedKnob is a device or IRQ knob whose newest live change was made with --persist:
// that change and the original nettune found before its first change of the knob.
type persistedKnob struct {
	e        Entry
	original string
	at       int // the change's place in the journal
}

// persistedDevices lists the knobs restore writes, in the order they were last changed.
func (h *history) persistedDevices() []persistedKnob {
	var out []persistedKnob
	for _, live := range h.live {
		for n := len(live) - 1; n >= 0; n-- {
			e := h.entries[live[n]]
			if !e.Persist || e.State != StateDone {
				continue
			}
			if id, err := knob.Parse(e.Knob); err == nil && id.Kind != knob.Sysctl {
				out = append(out, persistedKnob{e: e, original: h.entries[live[0]].Old, at: live[n]})
			}
			break
		}
	}
	slices.SortFunc(out, func(x, y persistedKnob) int { return cmp.Compare(x.at, y.at) })
	return out
}

// restoreStep decides whether restore writes one persisted knob again.
func (r *run) restoreStep(p persistedKnob) Step {
	e := p.e
	want := knob.Normalize(cmp.Or(e.Got, e.New))
	st := Step{Action: policy.Action{Knob: e.Knob, Proposed: want, Why: "restore at boot: persisted by " + e.Apply},
		Persist: true, device: e.Device}
	advice := func(format string, a ...any) Step {
		st.Decision, st.Note = DecideAdvice, fmt.Sprintf(format, a...)
		return st
	}
	id, err := knob.Parse(e.Knob)
	if err != nil {
		return advice("%v", err)
	}
	k, err := live.Parse(e.Knob, e.Netns, r.a.o.Env)
	if err != nil {
		return advice("%v", err)
	}
	st.k, st.Scope, st.Disruptive, st.Command = k, k.Scope(), k.Disruptive(), k.Command(want)
	now, err := deviceID(id, r.a.o.Env.ProcRoot, r.a.o.Env.SysRoot)
	switch {
	case err != nil:
		return advice("not restored: %v", err)
	case now != e.Device:
		return advice("not restored: persisted for %q, which is now %q", e.Device, now)
	case id.Kind == knob.IRQAffinity && r.own.irqbalance:
		return advice("not restored: irqbalance is running and would override it")
	}
	cur, err := k.Read()
	if err != nil {
		return advice("not restored: cannot read: %v", err)
	}
	st.Current = cur
	switch {
	case k.Compare(cur, want) == live.Equal:
		st.Decision = DecideUnchanged
	case k.Compare(cur, p.original) == live.Equal:
		st.Decision = DecideChange
	default:
		return advice("not restored: %s is neither the %s nettune found nor the %s it persisted: someone else's, left alone",
			cur, p.original, want)
	}
	return st
}
