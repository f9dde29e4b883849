package apply

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir holds the journal, the lock and auto mode's state.
const DefaultStateDir = "/var/lib/nettune"

const (
	journalFile  = "journal.jsonl"
	baselineFile = "baseline.bin"
	autoFile     = "auto.json"
)

// geteuid is replaced in tests to check the root requirement while running as root.
var geteuid = os.Geteuid

// begin checks root and the state dir and takes the lock; release drops it.
func (a *Applier) begin() (release func(), err error) {
	if geteuid() != 0 {
		return nil, ErrNotRoot
	}
	dir := a.o.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if isReadOnly(err) {
			return nil, fmt.Errorf("%w: %s: %w", ErrStateDirReadOnly, dir, err)
		}
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrStateDirReadOnly, dir, err)
	}
	return lockDir(dir, a.o.LockTimeout)
}

func isReadOnly(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// lockDir takes an exclusive flock on the directory itself, polling until timeout. The
// kernel drops the lock when the process dies, so a killed run never leaves a stale lock.
func lockDir(dir string, timeout time.Duration) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the last descriptor drops the flock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, dir, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
