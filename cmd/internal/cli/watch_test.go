package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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
