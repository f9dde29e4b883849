package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// UnshareNet runs `unshare --net sleep` — a namespace nothing names, held only by its process
// — and returns the process (killed when the test ends) and the path of its namespace.
func UnshareNet(t testing.TB) (*exec.Cmd, string) {
	t.Helper()
	bin, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare binary (util-linux): %v", err)
	}
	cmd := exec.Command(bin, "--net", "sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := StartPinned(cmd, nil); err != nil {
		t.Fatalf("unshare --net: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	self := Inode(t, "/proc/thread-self/ns/net")
	// unshare(1) enters the new namespace just before it executes sleep.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if Inode(t, path) != self && strings.TrimSpace(string(comm)) == "sleep" {
			return cmd, path
		}
	}
	t.Fatalf("unshare --net: process %d never left this namespace", cmd.Process.Pid)
	return nil, ""
}

// ManyNamespaces creates count named namespaces, each with a veth pair (both ends inside, up)
// and a UDP socket bound to its loopback: a node of many pods, for the benchmarks.
func ManyNamespaces(tb testing.TB, prefix string, count int) []*NS {
	tb.Helper()
	var all []*NS
	for range count {
		ns := NewNS(tb, prefix)
		all = append(all, ns)
		ManyVeths(tb, ns, 1, true)
		ns.Do(tb, func() error {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 5353}); err != nil {
				syscall.Close(fd)
				return err
			}
			f := os.NewFile(uintptr(fd), "udp")
			tb.Cleanup(func() { f.Close() })
			return nil
		})
	}
	return all
}
