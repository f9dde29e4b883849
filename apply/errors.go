// Package apply changes knobs safely: a journal entry is fsynced before every write, every
// write is read back, runs never interleave, and rollback replays the journal backwards.
package apply

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for bad input or environment; the CLI maps them to exit status 2 and
// nothing has been changed when one is returned. (fsx.ErrUnsafe, a state file nettune does
// not trust, is one of them too.)
var (
	ErrUnknownJournalID = errors.New("unknown journal id")
	ErrCorruptJournal   = errors.New("corrupt journal")
	ErrJournalVersion   = errors.New("journal written by a newer nettune")
	ErrStateDirReadOnly = errors.New("state directory is not writable")
	ErrStateUnreadable  = errors.New("state directory is not readable")
	ErrNotRoot          = errors.New("changing settings needs root")
	ErrLocked           = errors.New("another nettune run holds the state lock")
)

// ErrVerify is returned when a knob reads back neither the value nettune wrote nor a value
// the kernel could have rounded it to; the run stops there.
var ErrVerify = errors.New("knob read back an unexpected value")

// ChangeError is a run that failed while changing knobs: it names the knob it stopped at and
// every knob the run had already changed, which the journal holds for rollback. It is never
// "nothing was changed" (the CLI exits 3).
type ChangeError struct {
	Op      Op       // set, restore or revert
	ID      string   // journal id of the run
	Knob    string   // the knob whose change failed ("id [netns ns]")
	Written bool     // that knob itself was written before the run failed
	Done    []string // knobs this run changed before it, in order
	Err     error
}

func (e *ChangeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %v", e.Op, e.Knob, e.Err)
	done := e.Done
	if e.Written {
		done = append(done[:len(done):len(done)], e.Knob+" (written before the failure)")
	}
	if len(done) == 0 {
		b.WriteString("; no other knob was changed")
		return b.String()
	}
	fmt.Fprintf(&b, "; already changed by this run (journal id %s): %s", e.ID, strings.Join(done, ", "))
	return b.String()
}

func (e *ChangeError) Unwrap() error { return e.Err }

// CorruptError is a journal line nettune refuses to use: it fails its checksum, does not
// parse, or records a knob, namespace or value nettune would never have written.
type CorruptError struct {
	Path   string // the journal
	Line   int    // 1-based; 0 for the file as a whole
	Why    string
	Moved  string // where the journal was moved aside, if it was
	Exists bool   // a journal moved aside earlier blocks every run until it is dealt with
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("corrupt ")
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Why)
	switch {
	case e.Moved != "":
		fmt.Fprintf(&b, "; moved aside to %s and nothing was changed: restore the originals it records by hand, then remove it", e.Moved)
	case e.Exists:
		b.WriteString("; nothing was changed: restore the originals it records by hand, then remove it")
	}
	return b.String()
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorruptJournal }
