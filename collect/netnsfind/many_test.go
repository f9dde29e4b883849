package netnsfind

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
)

// manyNamespaces makes named namespaces (bind mounts) and held ones (a process each, no
// name), and returns the inodes of the held ones.
func manyNamespaces(tb testing.TB, named, held int) []uint64 {
	tb.Helper()
	prefix := lab.Name("m")
	names := make([]string, named)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	newNamed(tb, names...)
	inodes := make([]uint64, held)
	cmds := make([]*exec.Cmd, held)
	for i := range cmds {
		cmds[i] = holdUnnamed(tb)
		inodes[i] = pidNetns(tb, cmds[i].Process.Pid).Ino
	}
	return inodes
}

// Test500Namespaces: 400 named and 100 process-held namespaces are all discovered, with
// their names, in a bounded time.
func Test500Namespaces(t *testing.T) {
	lab.RequireRoot(t)
	if testing.Short() {
		t.Skip("creates 500 namespaces")
	}
	before := len(discover(t).Namespaces)
	held := manyNamespaces(t, 400, 100)
	start := time.Now()
	s := discover(t)
	took := time.Since(start)
	t.Logf("Discover over %d namespaces: %v", len(s.Namespaces), took)
	if len(s.Namespaces) < before+500 {
		t.Errorf("%d namespaces, want ≥ %d", len(s.Namespaces), before+500)
	}
	for _, ino := range held {
		if n, ok := s.Lookup(ino); !ok || len(n.PIDs) != 1 || len(n.Names) != 0 {
			t.Errorf("held namespace %d: %+v, %t", ino, n, ok)
		}
	}
	named := 0
	for _, n := range s.Namespaces {
		named += len(n.Names)
	}
	if named < 400 {
		t.Errorf("%d names, want ≥ 400", named)
	}
	// ~5 ms here; the bound leaves room for a loaded CI machine.
	if took > time.Second {
		t.Errorf("Discover took %v, want < 1 s", took)
	}
}

// BenchmarkDiscover500 runs Discover on this host's /proc with 400 named and 100
// process-held namespaces added.
func BenchmarkDiscover500(b *testing.B) {
	lab.RequireRoot(b)
	manyNamespaces(b, 400, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Discover("/proc"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDiscoverTree runs Discover on a fixture tree of 5 000 processes in 500
// namespaces and a mount table with 500 nsfs mounts among 2 000 others: the parsing and
// merging, with symlinks on a disk filesystem instead of /proc's.
func BenchmarkDiscoverTree(b *testing.B) {
	root := b.TempDir()
	mi := make([]byte, 0, 300_000)
	for i := range 2000 {
		mi = fmt.Appendf(mi, "%d 27 0:%d / /var/lib/kubelet/pods/%d/volumes rw,relatime shared:%d - tmpfs tmpfs rw,size=1024k\n", 100+i, 50+i, i, i)
	}
	for i := range 500 {
		mi = fmt.Appendf(mi, "%d 46 0:4 net:[%d] /run/netns/cni-%d rw shared:%d - nsfs nsfs rw\n", 3000+i, 4026532000+i, i, 3000+i)
	}
	writeFile(b, root+"/self/mountinfo", string(mi))
	nsLink(b, root, "self", "net:[4026531840]")
	nsLink(b, root, "1", "net:[4026531840]")
	for pid := 2; pid <= 5000; pid++ {
		ino := 4026531840
		if pid%2 == 0 {
			ino = 4026532000 + pid%500
		}
		nsLink(b, root, fmt.Sprint(pid), fmt.Sprintf("net:[%d]", ino))
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := Discover(root)
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Namespaces) != 501 {
			b.Fatalf("%d namespaces", len(s.Namespaces))
		}
	}
}
