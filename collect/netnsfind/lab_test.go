package netnsfind

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	vnetns "github.com/vishvananda/netns"

	"github.com/nettune/nettune/internal/lab"
)

// holdUnnamed starts `sleep` in a new network namespace that nothing names (what
// `unshare --net sleep` does), killed at cleanup.
func holdUnnamed(tb testing.TB) *exec.Cmd {
	tb.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		tb.Skipf("no sleep binary: %v", err)
	}
	cmd := exec.Command(sleep, "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := lab.StartPinned(cmd, nil); err != nil {
		tb.Fatalf("sleep in a new netns: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// newNamed creates `ip netns add`-style namespaces (bind mounts under /run/netns) and
// deletes those still there at cleanup.
func newNamed(tb testing.TB, names ...string) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		// NewNamed moves the calling thread into each new namespace. The thread goes back
		// afterwards: if it is the main thread, which Go never ends, it would stay in the last
		// one, and with it the process's /proc/PID/ns/net. If it cannot, it stays locked and
		// is retired.
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		for _, name := range names {
			h, err := vnetns.NewNamed(name)
			if err != nil {
				errc <- fmt.Errorf("create netns %s: %w", name, err)
				return
			}
			h.Close()
		}
		if err := vnetns.Set(orig); err != nil {
			errc <- fmt.Errorf("back to the original netns: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	err := <-errc
	tb.Cleanup(func() {
		for _, name := range names {
			if err := vnetns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				tb.Errorf("delete netns %s: %v", name, err)
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func selfNetns(tb testing.TB) ID {
	tb.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		tb.Fatal(err)
	}
	return ID{Dev: st.Dev, Ino: st.Ino}
}

func pidNetns(tb testing.TB, pid int) ID {
	tb.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		tb.Fatal(err)
	}
	return ID{Dev: st.Dev, Ino: st.Ino}
}

func discover(tb testing.TB) *Snapshot {
	tb.Helper()
	s, err := Discover("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestUnnamedNamespace: a namespace that only a process holds is found through the process,
// is entered through it, and once the process is gone opening it says ErrGone.
func TestUnnamedNamespace(t *testing.T) {
	lab.RequireRoot(t)
	cmd := holdUnnamed(t)
	want := pidNetns(t, cmd.Process.Pid)
	s := discover(t)
	n, ok := s.Lookup(want.Ino)
	if !ok {
		t.Fatalf("namespace %v of pid %d not discovered", want, cmd.Process.Pid)
	}
	if n.ID != want || n.Host || len(n.Names) != 0 || len(n.Mounts) != 0 || len(n.PIDs) != 1 || n.PIDs[0] != cmd.Process.Pid {
		t.Errorf("got %+v, want %v held by pid %d alone, no name", n, want, cmd.Process.Pid)
	}
	if n.Path() != fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid) {
		t.Errorf("path %q", n.Path())
	}

	h, err := n.Open()
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != want || h.Via != n.Path() {
		t.Errorf("opened %v via %s", h.ID, h.Via)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(h.Path(), &st); err != nil || st.Ino != want.Ino {
		t.Errorf("handle path %s: inode %d, %v; want %d", h.Path(), st.Ino, err, want.Ino)
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// The handle still holds the namespace; a new Open has nothing left to go through.
	if err := syscall.Fstat(h.Fd(), &st); err != nil || st.Ino != want.Ino {
		t.Errorf("held handle after the process exited: inode %d, %v", st.Ino, err)
	}
	h.Close()
	if _, err := n.Open(); !errors.Is(err, ErrGone) {
		t.Errorf("Open after the process exited: %v, want ErrGone", err)
	}
}

// TestPIDReused: a PID that now belongs to a process in another namespace does not open the
// wrong namespace.
func TestPIDReused(t *testing.T) {
	lab.RequireRoot(t)
	cmd := holdUnnamed(t)
	stale := Namespace{ID: pidNetns(t, cmd.Process.Pid), PIDs: []int{os.Getpid()}, procRoot: "/proc"}
	if _, err := stale.Open(); !errors.Is(err, ErrGone) {
		t.Errorf("Open through a PID in another namespace: %v, want ErrGone", err)
	}
}

// TestNamedNamespace: an `ip netns` namespace is found by its mount, named, entered through
// it, and after `ip netns delete` opening it says ErrGone.
func TestNamedNamespace(t *testing.T) {
	lab.RequireRoot(t)
	name := lab.Name("nsf")
	newNamed(t, name)
	s := discover(t)
	var n *Namespace
	for i := range s.Namespaces {
		if len(s.Namespaces[i].Names) == 1 && s.Namespaces[i].Names[0] == name {
			n = &s.Namespaces[i]
		}
	}
	if n == nil {
		t.Fatalf("netns %s not discovered", name)
	}
	if n.Path() != "/run/netns/"+name || len(n.PIDs) != 0 || n.Host || n.ID.Dev == 0 {
		t.Errorf("got %+v", n)
	}
	h, err := n.Open()
	if err != nil {
		t.Fatal(err)
	}
	if h.Via != "/run/netns/"+name {
		t.Errorf("opened via %s", h.Via)
	}
	h.Close()

	if err := vnetns.DeleteNamed(name); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Open(); !errors.Is(err, ErrGone) {
		t.Errorf("Open after delete: %v, want ErrGone", err)
	}
	if _, ok := discover(t).Lookup(n.ID.Ino); ok {
		t.Error("deleted namespace still discovered")
	}
}

// TestHostNamespace: the host namespace comes first and holds this test when the test runs
// in it.
func TestHostNamespace(t *testing.T) {
	lab.RequireRoot(t)
	s := discover(t)
	if s.Host.Ino == 0 || !s.Namespaces[0].Host || s.Namespaces[0].ID != s.Host {
		t.Fatalf("host %v, first %+v", s.Host, s.Namespaces[0].ID)
	}
	for _, n := range s.Namespaces[1:] {
		if n.Host {
			t.Errorf("second host namespace %v", n.ID)
		}
	}
	self := selfNetns(t)
	n, ok := s.Lookup(self.Ino)
	if !ok {
		t.Fatalf("own namespace %v not discovered", self)
	}
	if n.ID != self {
		t.Errorf("own namespace %v, discovered as %v", self, n.ID)
	}
}
