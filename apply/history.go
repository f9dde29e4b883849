package apply

import (
	"time"

	"github.com/nettune/nettune/knob/live"
)

// history is the journal folded: the latest state of every entry, and for each knob the set
// entries nettune has not undone yet ("live" changes).
type history struct {
	entries []Entry          // latest state per (apply, seq), in order of first appearance
	live    map[string][]int // knob key → indices into entries of live set entries
	pending map[string][]int // knob key → undo entries not done (a crash mid-rollback)
	last    map[string]time.Time
	applies map[string]bool
}

func knobKey(netns, id string) string { return netns + "\x00" + id }

func buildHistory(lines []Entry) *history {
	h := &history{live: map[string][]int{}, pending: map[string][]int{},
		last: map[string]time.Time{}, applies: map[string]bool{}}
	at := map[Ref]int{}
	for _, e := range lines {
		if i, ok := at[e.ref()]; ok {
			h.entries[i] = e
			continue
		}
		at[e.ref()] = len(h.entries)
		h.entries = append(h.entries, e)
	}
	undone := map[Ref]bool{}
	for _, e := range h.entries {
		h.applies[e.Apply] = true
		if e.Op != OpSet && e.State == StateDone {
			for _, r := range e.Undoes {
				undone[r] = true
			}
		}
	}
	for i, e := range h.entries {
		key := knobKey(e.Netns, e.Knob)
		if e.Time.After(h.last[key]) {
			h.last[key] = e.Time
		}
		switch {
		case e.Op == OpSet && !undone[e.ref()]:
			h.live[key] = append(h.live[key], i)
		case e.Op != OpSet && e.State != StateDone:
			h.pending[key] = append(h.pending[key], i)
		}
	}
	return h
}

// sameNetns: entry e is of the namespace with inode ino (0: not known, on either side). A
// name or path reused by a new namespace keeps its key; the inode tells the two apart.
func sameNetns(e Entry, ino uint64) bool { return ino == 0 || e.NetnsIno == 0 || e.NetnsIno == ino }

// expected are the values a knob of the namespace with inode ino may hold if nobody but
// nettune touched it since.
func (h *history) expected(key string, ino uint64) []string {
	var live []int
	for _, i := range h.live[key] {
		if sameNetns(h.entries[i], ino) {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return nil
	}
	var out []string
	add := func(e Entry) {
		switch e.State {
		case StateDone:
			out = append(out, e.Got)
		case StatePending: // crashed around the write: either value is ours
			out = append(out, e.Old, e.New)
		case StateFailed:
			out = append(out, e.Old, e.New)
			if e.Got != "" {
				out = append(out, e.Got)
			}
		}
	}
	add(h.entries[live[len(live)-1]])
	for _, i := range h.pending[key] {
		if sameNetns(h.entries[i], ino) {
			add(h.entries[i])
		}
	}
	return out
}

// drifted reports whether someone else changed a knob nettune owns: its value is none of
// the values nettune could have left there.
func (h *history) drifted(k live.Knob, key string, ino uint64, cur string) (bool, string) {
	exp := h.expected(key, ino)
	if exp == nil {
		return false, ""
	}
	for _, v := range exp {
		if k.Compare(cur, v) == live.Equal {
			return false, ""
		}
	}
	return true, exp[0]
}
