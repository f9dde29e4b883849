package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// Piped, advise --watch prints one report per interval, without terminal controls, until
// its context ends (Ctrl-C), and exits 0.
func TestAdviseWatchPiped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1100*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	err := Execute(ctx, []string{"advise", "--watch", "--no-bpf", "--interval", "300ms"},
		Streams{In: strings.NewReader("q"), Out: &out, Err: &errb})
	if code := ExitCode(err, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := strings.Count(out.String(), "nettune advise --watch:"); n < 2 {
		t.Errorf("%d reports in 1.1s at 300ms:\n%s", n, out.String())
	}
	if strings.Contains(out.String(), "\033[") {
		t.Error("terminal controls in piped output")
	}
	if !strings.Contains(out.String(), "VERDICT:") {
		t.Errorf("no verdict:\n%s", out.String())
	}
	// With no --netns each report is the node's.
	if head, _, _ := strings.Cut(out.String(), "\n"); !strings.HasSuffix(head, "namespaces)") && !strings.HasSuffix(head, "namespace)") {
		t.Errorf("not the node's report: %q", head)
	}
	code, _, stderr := run(t, "advise", "--watch", "-o", "json")
	if code != ExitUsage || !strings.Contains(stderr, "--watch") {
		t.Errorf("--watch -o json: exit %d, %q", code, stderr)
	}
}

// TestAdviseWatchDetaches runs the real `nettune advise --watch` with probes as a child
// process, waits for its first report, stops it with SIGINT and SIGTERM, and checks through
// the bpf syscalls that none of its programs or links survive.
func TestAdviseWatchDetaches(t *testing.T) {
	lab.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	v := pair(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			before := nettuneObjects(t)
			cmd := exec.Command(self, "advise", "--watch", "--interval", "300ms", "--netns", v.B.Name)
			cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			first := make(chan error, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "VERDICT:") {
						first <- nil
						break
					}
				}
				first <- errors.New("no report")
				for sc.Scan() {
				}
			}()
			select {
			case err := <-first:
				if err != nil {
					_ = cmd.Process.Kill()
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("no report within 30s")
			}
			if len(added(before, nettuneObjects(t))) == 0 {
				_ = cmd.Process.Kill()
				t.Fatal("advise --watch is running but loaded no nettune program: the check would prove nothing")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("advise --watch after %s: %v (want a clean exit)", sig, err)
			}
			if left := leftLoaded(t, before); len(left) > 0 {
				t.Errorf("after %s still loaded: %v", sig, left)
			}
		})
	}
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

// On a terminal advise --watch draws on the alternate screen, quits on q with status 0, and
// leaves the terminal as it found it (canonical mode and echo back, normal screen, cursor
// shown).
func TestAdviseWatchQuitsOnQ(t *testing.T) {
	out := watchOnPTY(t, []string{"advise", "--watch", "--no-bpf", "--interval", "300ms", "--netns", "host"},
		func(screen string) bool { return strings.Count(screen, "VERDICT:") >= 2 }, func() {})
	if strings.Contains(out, "namespaces)") {
		t.Errorf("--netns host drew the node's report:\n%q", out)
	}
}

// With no --netns advise --watch on a terminal follows the whole node, probes attached in
// every namespace: each frame is the node's (the test's namespaces among those counted), the
// namespace that loses UDP datagrams gets its block, and q quits with status 0, the terminal
// restored and every probe detached. It runs in namespaces of its own (lab.Isolated), so the
// probes attach to the test's links only.
func TestAdviseWatchNodeOnTerminal(t *testing.T) {
	if !lab.Isolated(t, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1") {
		return
	}
	v := pair(t)
	stop := background(t, v, udpRcvbufNoSetsockopt)
	defer stop()
	before := nettuneObjects(t)
	out := watchOnPTY(t, []string{"advise", "--watch", "--interval", "1s"},
		func(screen string) bool {
			return strings.Count(screen, "VERDICT:") >= 2 && strings.Contains(screen, "━━ 1/")
		},
		func() {
			if len(added(before, nettuneObjects(t))) == 0 {
				t.Error("advise --watch is running but loaded no nettune program: the detach check would prove nothing")
			}
		})
	if left := leftLoaded(t, before); len(left) > 0 {
		t.Errorf("after q still loaded: %v", left)
	}
	if !strings.Contains(out, "3 namespaces)") {
		t.Errorf("frames are not the node's (its own namespace and the test's two):\n%q", out)
	}
	if !strings.Contains(out, "udp-rcvbuf") {
		t.Errorf("no frame names the lossy stage:\n%q", out)
	}
}

// watchOnPTY runs nettune with args on a pseudo-terminal of 200×200 until done(what it drew)
// holds, calls running while it still runs, presses q and checks that it exits 0 within 10s, leaves the alternate screen and restores
// the terminal. It returns what was drawn.
func watchOnPTY(t *testing.T, args []string, done func(screen string) bool, running func()) string {
	t.Helper()
	master, tty := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 200, Col: 200}); err != nil {
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
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), "CLITEST_RUN_AS_NETTUNE=1", "TERM=xterm", "NO_COLOR=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var screen bytes.Buffer
	got := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		signalled := false
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			s := screen.String()
			mu.Unlock()
			if !signalled && done(s) {
				close(got)
				signalled = true
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("not drawn within 30s:\n%q", screen.String())
	}
	running()
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("advise --watch after q: %v (want exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("q did not quit within 10s")
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Cc != before.Cc {
		t.Errorf("terminal not restored: lflag %#x → %#x", before.Lflag, after.Lflag)
	}
	time.Sleep(100 * time.Millisecond) // the last bytes through the pty
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if !strings.Contains(out, altScreenOn) || !strings.HasSuffix(strings.TrimRight(out, "\r\n"), altScreenOff) {
		t.Errorf("alternate screen not entered and left:\n%q", out)
	}
	return out
}
