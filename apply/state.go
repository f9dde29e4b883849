package apply

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/fsx"
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

// begin checks root, creates (0700) or opens the state dir, checks that it is trusted and
// writable, and takes the lock; release drops it.
func (a *Applier) begin() (d *fsx.Dir, release func(), err error) {
	if geteuid() != 0 {
		return nil, nil, ErrNotRoot
	}
	path := a.o.StateDir
	d, err = fsx.CreateDir(path, 0o700)
	if err != nil {
		if isReadOnly(err) {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrStateDirReadOnly, path, err)
		}
		return nil, nil, fmt.Errorf("state dir: %w", err)
	}
	if err := unix.Access(d.Path(), unix.W_OK); err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrStateDirReadOnly, path, err)
	}
	if err := lockDir(d, a.o.LockTimeout); err != nil {
		d.Close()
		return nil, nil, err
	}
	// A run killed inside an atomic write leaves its temporary file; only now, under the
	// lock, is no other run writing one.
	for _, name := range []string{journalFile, baselineFile, baselineNodeFile, autoFile} {
		if err := d.RemoveTemps(name); err != nil {
			d.Close()
			return nil, nil, err
		}
	}
	return d, func() { d.Close() }, nil // closing the directory drops the flock
}

// openState opens the state dir for commands that only read it (status, dry run): nil when it
// does not exist yet. Not being allowed to read it is ErrStateUnreadable.
func (a *Applier) openState() (*fsx.Dir, error) {
	d, err := fsx.OpenDir(a.o.StateDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("%w: %w", ErrStateUnreadable, err)
	case err != nil:
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return d, nil
}

func isReadOnly(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// lockDir takes an exclusive flock on the state directory itself, polling until timeout (a
// negative timeout tries once). The kernel drops the lock when the process dies, so a killed
// run never leaves a stale lock.
func lockDir(d *fsx.Dir, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", d.Path(), err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: %s (waited %s)", ErrLocked, d.Path(), max(timeout, 0))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
