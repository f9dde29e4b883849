package kstat

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/prometheus/procfs"
)

// IRQBalanceRunning reports whether a process named irqbalance runs in the PID namespace of
// <proc>. irqbalance rewrites IRQ affinities, so affinity advice must mention it.
func IRQBalanceRunning(procRoot string) (bool, error) {
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return false, fmt.Errorf("irqbalance: %w", err)
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return false, fmt.Errorf("irqbalance: %w", err)
	}
	for _, p := range procs {
		comm, err := p.Comm()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited since the directory was listed
		}
		if err != nil {
			return false, fmt.Errorf("irqbalance: pid %d: %w", p.PID, err)
		}
		if comm == "irqbalance" {
			return true, nil
		}
	}
	return false, nil
}
