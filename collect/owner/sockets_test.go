package owner

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestSocketOwnersFixture(t *testing.T) {
	proc := fixtureTree(t, "testdata/proc-containerd.txtar") + "/proc"
	// 16999 has no fd directory (it exited); 1 does not exist at all.
	for _, pids := range [][]int{{16724, 16758, 16999, 1}, nil} {
		got, err := SocketOwners(proc, pids, []uint64{520577, 519987, 42})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[uint64][]int{520577: {16758}}; !cmp.Equal(got, want) {
			t.Errorf("pids %v: %v, want %v (a pipe is not a socket, 42 is nobody's)", pids, got, want)
		}
	}
	if _, err := SocketOwners(proc+"/missing", nil, []uint64{1}); err == nil {
		t.Error("no error for a missing proc root")
	}
}

// socketInodeOf returns the inode sock_diag reports for a socket descriptor.
func socketInodeOf(t testing.TB, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestSocketOwnersLive: this process's own socket, shared with a child that inherited it, is
// found in both, whether the scan is given the PIDs or walks every process.
func TestSocketOwnersLive(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	ino := socketInodeOf(t, fds[0])
	f := os.NewFile(uintptr(fds[0]), "sock")
	child, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{Files: []*os.File{nil, nil, nil, f}})
	if err != nil {
		t.Skipf("no /bin/sleep: %v", err)
	}
	defer func() { _ = child.Kill(); _, _ = child.Wait() }()
	self := os.Getpid()
	for _, pids := range [][]int{{self, child.Pid}, nil} {
		got, err := SocketOwners("/proc", pids, []uint64{ino})
		if err != nil {
			t.Fatal(err)
		}
		want := []int{self, child.Pid} // in scan order: the order given
		if pids == nil {
			slices.Sort(want) // every process, ascending (PIDs wrap at pid_max: the child's may be lower)
		}
		if !cmp.Equal(got[ino], want) {
			t.Errorf("pids %v: owners %v, want %v", pids, got[ino], want)
		}
	}
}

// BenchmarkSocketOwners5000 scans a process holding 5 000 descriptors (2 500 socket pairs)
// for one socket.
func BenchmarkSocketOwners5000(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 5200 {
		b.Skipf("needs 5 200 descriptors (limit %d, %v)", lim.Cur, err)
	}
	var last uint64
	for range 2500 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		last = socketInodeOf(b, fds[1])
	}
	pids := []int{os.Getpid()}
	b.ReportAllocs()
	for b.Loop() {
		got, err := SocketOwners("/proc", pids, []uint64{last})
		if err != nil || len(got[last]) != 1 {
			b.Fatalf("%v, %v", got, err)
		}
	}
}
