package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// securePath is the PATH sudo gives commands on Debian (its secure_path): no Go toolchain.
const securePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// TestMakeBuildUnderSudoPath: the README's `make build` (and `sudo make test`) work with the
// PATH sudo gives, where `go` is not found: the Makefile finds the toolchain where Go's
// installer, Debian and snap put it.
func TestMakeBuildUnderSudoPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nettune and runs make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	goBin := filepath.Join(strings.TrimSpace(string(goroot)), "bin", "go")
	known := []string{"/usr/local/go/bin/go", "/usr/lib/go/bin/go", "/snap/bin/go"}
	if !slices.Contains(known, goBin) && !strings.HasPrefix(goBin, "/usr/lib/go-") {
		t.Skipf("this Go toolchain (%s) is not where the Makefile looks (%s, /usr/lib/go-*/bin/go)", goBin, strings.Join(known, ", "))
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "nettune")
	env := []string{"PATH=" + securePath, "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains([]string{"PATH", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GO"}, k) {
			env = append(env, kv)
		}
	}
	cmd := exec.Command("make", "-C", repo, "build", "BIN="+bin)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build with PATH=%s: %v\n%s", securePath, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "nettune ") {
		t.Errorf("built nettune version: %v\n%s", err, out)
	}
}
