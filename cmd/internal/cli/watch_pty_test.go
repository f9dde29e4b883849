package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
)

// On a terminal advise --watch draws on the alternate screen, quits on q with status 0, and
// leaves the terminal as it found it (canonical mode and echo back, normal screen, cursor
// shown).
func TestAdviseWatchQuitsOnQ(t *testing.T) {
	w := startWatchOnPTY(t, 200, "advise", "--watch", "--no-bpf", "--interval", "300ms", "--netns", "host")
	w.waitFor("two reports", func(screen string) bool { return strings.Count(screen, "VERDICT:") >= 2 })
	if out := w.quit(); strings.Contains(out, "namespaces)") {
		t.Errorf("--netns host drew the node's report:\n%q", out)
	}
}

// With no --netns advise --watch on a terminal follows the whole node, probes attached in
// every namespace: each frame is the node's, the namespace that loses UDP datagrams gets its
// block, namespaces that appear are counted from their next interval and those that vanish
// drop out, and q quits with status 0, the terminal restored and every probe detached. It
// runs in namespaces of its own (lab.Isolated), so the probes attach to the test's links only.
func TestAdviseWatchNodeOnTerminal(t *testing.T) {
	if !lab.Isolated(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1") {
		return
	}
	v := pair(t)
	stop := background(t, v, udpRcvbufNoSetsockopt)
	defer stop()
	before := nettuneObjects(t)
	w := startWatchOnPTY(t, 200, "advise", "--watch", "--interval", "1s")
	// Its own namespace and the test's two.
	w.waitFor("the node's report with the lossy namespace's block", func(s string) bool {
		return strings.Contains(s, "3 namespaces)") && strings.Contains(s, "━━ 1/1") && strings.Contains(s, "udp-rcvbuf")
	})
	if len(added(before, nettuneObjects(t))) == 0 {
		t.Error("advise --watch is running but loaded no nettune program: the detach check would prove nothing")
	}

	// A namespace nothing names, held by a process, appears and then vanishes.
	holder := exec.Command("unshare", "--net", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	w.waitFor("the new namespace counted", func(s string) bool {
		return strings.Contains(s, "appeared during the interval") && strings.Contains(s, "4 namespaces)")
	})
	_ = holder.Process.Kill()
	_ = holder.Wait()
	w.waitFor("the namespace gone", func(s string) bool { return strings.Contains(s, "vanished during the interval") })

	w.quit()
	if left := leftLoaded(t, before); len(left) > 0 {
		t.Errorf("after q still loaded: %v", left)
	}

	// Ctrl-C (SIGINT) on a terminal of 12 rows: the frame is cut below the verdict, saying so.
	w = startWatchOnPTY(t, 12, "advise", "--watch", "--interval", "1s")
	w.waitFor("a frame cut to 12 rows", func(s string) bool {
		return strings.Contains(s, "VERDICT: packets are lost at udp-rcvbuf") && strings.Contains(s, "more lines: a taller terminal")
	})
	if len(added(before, nettuneObjects(t))) == 0 {
		t.Error("the second advise --watch loaded no nettune program")
	}
	w.end(func() error { return w.cmd.Process.Signal(syscall.SIGINT) })
	if left := leftLoaded(t, before); len(left) > 0 {
		t.Errorf("after Ctrl-C still loaded: %v", left)
	}
}

// ptyWatch is nettune running on a pseudo-terminal 200 columns wide, what it drew kept.
type ptyWatch struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	before *unix.Termios
	tty    *os.File

	mu     sync.Mutex
	screen bytes.Buffer
	more   chan struct{} // a read arrived
}

func startWatchOnPTY(t *testing.T, rows uint16, args ...string) *ptyWatch {
	t.Helper()
	master, tty := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: 200}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &ptyWatch{t: t, master: master, tty: tty, before: before, more: make(chan struct{}, 1)}
	w.cmd = exec.Command(self, args...)
	w.cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1", "TERM=xterm", "NO_COLOR=")
	w.cmd.Stdin, w.cmd.Stdout, w.cmd.Stderr = tty, tty, tty
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			w.mu.Lock()
			w.screen.Write(buf[:n])
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return w
}

func (w *ptyWatch) drawn() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.screen.String()
}

// waitFor waits up to 30s for what was drawn to satisfy cond.
func (w *ptyWatch) waitFor(what string, cond func(screen string) bool) {
	w.t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond(w.drawn()) {
		select {
		case <-w.more:
		case <-deadline:
			w.t.Fatalf("%s: not drawn within 30s:\n%q", what, w.drawn())
		}
	}
}

// quit presses q and checks that nettune exits 0 within 10s, leaves the alternate screen and
// restores the terminal. It returns all that was drawn.
func (w *ptyWatch) quit() string {
	w.t.Helper()
	return w.end(func() error { _, err := w.master.Write([]byte("q")); return err })
}

// end is quit, with stop (a key, a signal) instead of q.
func (w *ptyWatch) end(stop func() error) string {
	t := w.t
	t.Helper()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("advise --watch ended: %v (want exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		t.Fatal("still running 10s after it was told to quit")
	}
	after, err := unix.IoctlGetTermios(int(w.tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != w.before.Lflag || after.Cc != w.before.Cc {
		t.Errorf("terminal not restored: lflag %#x → %#x", w.before.Lflag, after.Lflag)
	}
	time.Sleep(100 * time.Millisecond) // the last bytes through the pty
	out := w.drawn()
	if !strings.Contains(out, altScreenOn) || !strings.HasSuffix(strings.TrimRight(out, "\r\n"), altScreenOff) {
		t.Errorf("alternate screen not entered and left:\n%q", out)
	}
	return out
}

// openPTY opens a pseudo-terminal pair: the test drives the master side, the command gets
// the other end as its terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
