package netnsfind

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procTree materializes a captured process list ("PID LINK [COMM]" lines) and mountinfo as a /proc
// root: PID/ns/net symlinks with the captured targets, PID/comm where given, self/mountinfo and self/ns/net.
func procTree(t testing.TB, procs, mountinfo, self string) string {
	t.Helper()
	root := t.TempDir()
	f, err := os.Open(procs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			t.Fatalf("%s: bad line %q", procs, sc.Text())
		}
		nsLink(t, root, f[0], f[1])
		if len(f) > 2 {
			writeFile(t, filepath.Join(root, f[0], "comm"), f[2]+"\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	nsLink(t, root, "self", self)
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "self", "mountinfo"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func nsLink(t testing.TB, root, pid, link string) {
	t.Helper()
	dir := filepath.Join(root, pid, "ns")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(dir, "net")); err != nil {
		t.Fatal(err)
	}
}
