package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"golang.org/x/tools/txtar"

	"github.com/nettune/nettune/collect/owner"
	"github.com/nettune/nettune/policy"
)

// Issue 13 item 4: the sockets of a finding are named by the processes that hold them, their
// container and pod — here a containerd pod's /proc and kubelet log tree, recorded.
func TestSocketOwnersNamed(t *testing.T) {
	root := procFixture(t, "../collect/owner/testdata/proc-containerd.txtar")
	r := &policy.Report{Findings: []policy.Finding{
		{ID: "tcp-accept-queue/web", Sockets: []policy.Socket{
			{Proto: "tcp", Local: "0.0.0.0:8080", Inode: 520577},
			{Proto: "tcp", Local: "0.0.0.0:8081", Inode: 999}}}, // held by nobody (closed)
		{ID: "softnet/host"},
	}}
	made := 0
	newResolver := func() *owner.Resolver {
		made++
		return owner.NewResolver(owner.Options{ProcRoot: root + "/proc", CRISockets: []string{},
			PodLogDir: root + "/log/pods", ContainerLogDir: root + "/log/containers"})
	}
	// 16758 holds the socket but is not among the namespace's processes given: found by the
	// scan of every process that follows.
	nameSocketOwners(context.Background(), []socketScope{{report: r, pids: []int{2, 16724, 16999}}}, root+"/proc", newResolver)
	got := r.Findings[0].Sockets
	want := []policy.Socket{
		{Proto: "tcp", Local: "0.0.0.0:8080", Inode: 520577, Processes: []policy.SocketProcess{{PID: 16758, Comm: "httpd"}},
			Container: "app", Pod: "default/web-0"},
		{Proto: "tcp", Local: "0.0.0.0:8081", Inode: 999},
	}
	if !reflect.DeepEqual(got, want) || made != 1 || len(r.Missing) != 0 {
		t.Errorf("sockets %+v (resolvers %d, missing %v), want %+v", got, made, r.Missing, want)
	}

	// Without socket-level findings nothing is read at all.
	quiet := &policy.Report{Findings: []policy.Finding{{ID: "softnet/host"}}}
	nameSocketOwners(context.Background(), []socketScope{{report: quiet}}, "/nonexistent", func() *owner.Resolver { t.Fatal("resolver made"); return nil })
	if len(quiet.Missing) != 0 {
		t.Errorf("missing %v", quiet.Missing)
	}

	// Processes that cannot be listed are missing evidence, not an error.
	blind := &policy.Report{Findings: []policy.Finding{{ID: "udp-rcvbuf/host", Sockets: []policy.Socket{{Proto: "udp", Inode: 7}}}}}
	nameSocketOwners(context.Background(), []socketScope{{report: blind}}, t.TempDir()+"/nonexistent", newResolver)
	if len(blind.Missing) != 1 || !strings.HasPrefix(blind.Missing[0], "socket owners: ") || blind.Findings[0].Sockets[0].Processes != nil {
		t.Errorf("missing %v, sockets %+v", blind.Missing, blind.Findings[0].Sockets)
	}
}

// procFixture materializes a txtar of /proc files; each "PATH TARGET" line of its "links"
// file becomes a symlink (descriptor links).
func procFixture(t *testing.T, file string) string {
	t.Helper()
	a, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, f := range a.Files {
		if f.Name == "links" {
			for _, l := range strings.Split(strings.TrimSpace(string(f.Data)), "\n") {
				path, target, _ := strings.Cut(l, " ")
				p := filepath.Join(root, path)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		p := filepath.Join(root, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// BenchmarkNameSocketOwners is what naming the sockets of a lossy interval costs on this
// host: two namespaces' findings with a socket each that no process of theirs holds, so
// every process's descriptor table is read once (the worst case), and the holder resolved.
func BenchmarkNameSocketOwners(b *testing.B) {
	var inodes []uint64
	for range 2 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fd) })
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			b.Fatal(err)
		}
		inodes = append(inodes, st.Ino)
	}
	newResolver := func() *owner.Resolver { return owner.NewResolver(owner.Options{CRISockets: []string{}}) }
	b.ReportAllocs()
	for b.Loop() {
		var scopes []socketScope
		for _, ino := range inodes {
			r := &policy.Report{Findings: []policy.Finding{{Sockets: []policy.Socket{{Proto: "udp", Inode: ino}}}}}
			scopes = append(scopes, socketScope{report: r, pids: []int{1}})
		}
		nameSocketOwners(context.Background(), scopes, "/proc", newResolver)
		if s := scopes[1].report.Findings[0].Sockets[0]; len(s.Processes) == 0 || s.Processes[0].PID != os.Getpid() {
			b.Fatalf("socket %+v: not held by this process", s)
		}
	}
}
