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
	master, tty := openPTY(t)
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "advise", "--watch", "--no-bpf", "--interval", "300ms")
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
			two := strings.Count(screen.String(), "VERDICT:") >= 2
			mu.Unlock()
			if two && !signalled {
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
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no two reports within 20s")
	}
	if _, err := master.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
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
}
