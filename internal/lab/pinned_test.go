package lab

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	cmd := exec.Command(bin, "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// A child whose forking thread ends is killed (Pdeathsig follows the thread); one started by
// StartPinned outlives threads that end around it.
func TestStartPinnedOutlivesEndedThreads(t *testing.T) {
	// The hazard. Go never ends the main thread, so a goroutine that lands there forks a
	// child that lives on: try a few times.
	killed := false
	for try := 0; try < 5 && !killed; try++ {
		lost := sleeper(t)
		started := make(chan error)
		go func() {
			runtime.LockOSThread() // exits locked: Go ends the thread
			started <- lost.Start()
		}()
		if err := <-started; err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- lost.Wait() }()
		select {
		case err := <-exited:
			var exit *exec.ExitError
			killed = errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		case <-time.After(2 * time.Second):
			_ = lost.Process.Kill()
			<-exited
		}
	}
	if !killed {
		t.Fatal("no child of an ended thread was killed: the hazard this guards against did not show")
	}

	kept := sleeper(t)
	if err := StartPinned(kept, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	if err := kept.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the pinned child died with the threads around it: %v", err)
	}
	_ = kept.Process.Kill()
	_ = kept.Wait()
}
