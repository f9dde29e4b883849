package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/policy"
)

// Exit statuses, documented in docs/architecture.md and the README.
const (
	ExitOK       = 0
	ExitLoss     = 1
	ExitUsage    = 2
	ExitInternal = 3
)

// ErrUsage marks bad input (flags, config, interface, netns, permissions): exit 2, nothing changed.
var ErrUsage = errors.New("usage")

// errLoss is returned by advise when it found loss: exit 1 without an error message.
var errLoss = errors.New("loss found")

// usageError wraps err so it maps to exit 2 while keeping its own message.
type usageError struct{ err error }

func (u usageError) Error() string         { return u.err.Error() }
func (u usageError) Unwrap() []error       { return []error{ErrUsage, u.err} }
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// ExitCode prints err (if it deserves a message) and returns the process exit status.
func ExitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errLoss), errors.Is(err, errDegraded):
		return ExitLoss
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "nettune: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "nettune: %v\n", err)
		return ExitInternal
	}
}

// applyErr maps the applier's errors to exit statuses: bad input or environment, where
// nothing was changed, is exit 2; a failure while changing (apply.ChangeError, which says
// what was already changed) and anything else is exit 3.
func applyErr(err error) error {
	var ce *apply.ChangeError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, apply.ErrStateUnreadable) {
		return usagef("%w (run as root)", err)
	}
	for _, bad := range []error{apply.ErrUnknownJournalID, apply.ErrCorruptJournal, apply.ErrJournalVersion,
		apply.ErrStateDirReadOnly, apply.ErrNotRoot, apply.ErrLocked, fsx.ErrUnsafe, policy.ErrConfig} {
		if errors.Is(err, bad) {
			return asUsage(err)
		}
	}
	return err
}
