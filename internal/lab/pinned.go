package lab

import (
	"fmt"
	"os/exec"
	"runtime"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// StartPinned starts cmd from an OS thread kept for it alone until it exits — inside ns when
// ns is not nil. The caller waits for it as for cmd.Start (cmd.Wait): the thread only
// watches the process end (waitid with WNOWAIT, which leaves it to be reaped).
//
// Why: the lab's children die with the test binary through Pdeathsig, which the kernel sends
// when the *thread* that forked them ends, not the process. Go ends a thread whose goroutine
// exits while locked to it, as namespace code does with a thread it cannot bring back, so a
// child forked from a pooled thread could be killed in the middle of a test (a test's
// containerd was, in two runs of one day).
func StartPinned(cmd *exec.Cmd, ns *NS) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		err := error(nil)
		if ns != nil {
			err = enter(ns.name())
		}
		if err == nil {
			err = cmd.Start()
		}
		started <- err
		if err != nil {
			return
		}
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return
			}
		}
	}()
	return <-started
}

// enter moves the calling thread into the named namespace for good.
func enter(name string) error {
	h, err := vnetns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer h.Close()
	if err := vnetns.Set(h); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	return nil
}
