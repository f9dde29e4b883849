package cli

import (
	"errors"
	"fmt"
	"io"
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
