package bpf

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"

	"github.com/nettune/nettune/internal/lab"
)

// listClsact returns the cls_bpf filters on a link's hook (none when it has no clsact).
func listClsact(ns string, ifindex int, hook string) []tcFilter {
	var out []tcFilter
	_ = withTC(ns, func(t *tc.Tc) error {
		out = filters(t, uint32(ifindex), hook)
		return nil
	})
	return out
}

// ourObjects lists nettune programs loaded anywhere on the host and links holding one.
func ourObjects(t testing.TB) []string {
	t.Helper()
	var found []string
	for k := range lab.BPFObjects(t, ourPrefix) {
		found = append(found, k)
	}
	return found
}

// waitNoneOurs waits for the kernel to free what a dead process held (freeing is
// asynchronous) and fails if anything of ours stays.
func waitNoneOurs(t *testing.T) {
	t.Helper()
	var left []string
	for range 50 {
		if left = ourObjects(t); len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left attached: %v", left)
}

func startChild(t *testing.T, ns *lab.NS, linkName, tcMode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%s", childEnv, ns.Name, linkName, tcMode))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("child failed to attach")
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child did not get ready")
	}
	return cmd
}

// TestSignalsLeaveNothing: SIGINT and SIGTERM run CloseOnSignal; SIGKILL leaves only what
// bpf_link semantics and the next start's clsact cleanup take care of.
func TestSignalsLeaveNothing(t *testing.T) {
	lab.RequireRoot(t)
	for _, mode := range []string{TCX, TCClsact} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(mode+"/"+sig.String(), func(t *testing.T) {
				_, b, v := pair(t, 2)
				waitNoneOurs(t)
				if t.Failed() {
					t.FailNow()
				}
				cmd := startChild(t, b, v.BName, mode)
				if len(ourObjects(t)) == 0 {
					t.Fatal("child reported ready but nothing of ours is attached")
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
				idx := 0
				b.Do(t, func() error {
					var err error
					idx, err = ifindex(v.BName)
					return err
				})
				left := 0
				for _, hook := range []string{hookIngress, hookEgress} {
					for _, f := range listClsact(b.Name, idx, hook) {
						if ours(f.name) {
							left++
						}
					}
				}
				if mode == TCClsact && sig == syscall.SIGKILL {
					if left != 2 {
						t.Fatalf("%d cls_bpf filters after SIGKILL, want the 2 the dead child added", left)
					}
					// The next start removes the dead process's filters.
					p := attach(t, Options{Targets: []Target{{Netns: b.Name, Links: []string{v.BName}}}, TCMode: TCClsact, InPath: true, XDPMode: XDPOff})
					n := 0
					for _, hook := range []string{hookIngress, hookEgress} {
						for _, f := range listClsact(b.Name, idx, hook) {
							if ours(f.name) && !strings.HasSuffix(f.name, fmt.Sprintf(" pid=%d", ownPID)) {
								t.Errorf("leftover %q not cleaned", f.name)
							}
							n++
						}
					}
					if n != 2 {
						t.Errorf("%d filters after restart, want our 2", n)
					}
					if err := p.Close(); err != nil {
						t.Fatal(err)
					}
					left = len(listClsact(b.Name, idx, hookIngress)) + len(listClsact(b.Name, idx, hookEgress))
				}
				if left != 0 {
					t.Errorf("%d cls_bpf filters of ours left", left)
				}
				waitNoneOurs(t)
			})
		}
	}
}
