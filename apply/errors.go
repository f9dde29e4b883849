// Package apply changes knobs safely: a journal entry is fsynced before every write, every
// write is read back, runs never interleave, and rollback replays the journal backwards.
package apply

import "errors"

// Sentinel errors for bad input or environment; the CLI maps them to exit status 2 and
// nothing has been changed when one is returned.
var (
	ErrUnknownJournalID = errors.New("unknown journal id")
	ErrCorruptJournal   = errors.New("corrupt journal")
	ErrStateDirReadOnly = errors.New("state directory is not writable")
	ErrNotRoot          = errors.New("changing settings needs root")
	ErrLocked           = errors.New("another nettune run holds the state lock")
)

// ErrVerify is returned when a knob reads back neither the value nettune wrote nor a value
// the kernel could have rounded it to; the run stops there.
var ErrVerify = errors.New("knob read back an unexpected value")
