package owner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// fixtureTree materializes a txtar fixture under a temporary directory: every file as a
// regular file, and each "PATH TARGET" line of the "links" file as a symlink (descriptor and
// namespace links of /proc, kubelet's container log links).
func fixtureTree(t testing.TB, file string) string {
	t.Helper()
	a, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mkdir := func(p string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range a.Files {
		if f.Name == "links" {
			for _, l := range strings.Split(strings.TrimSpace(string(f.Data)), "\n") {
				path, target, ok := strings.Cut(l, " ")
				if !ok {
					t.Fatalf("%s: link line %q", file, l)
				}
				p := filepath.Join(root, path)
				mkdir(p)
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		p := filepath.Join(root, f.Name)
		mkdir(p)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
