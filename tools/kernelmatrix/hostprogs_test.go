package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nettune/nettune/tools/kernelmatrix/vm"
)

func hostNftOrSkip(t *testing.T) string {
	t.Helper()
	p, err := lookHostProgram("nft")
	if err != nil {
		t.Skip("nft not installed (make deps-test installs nftables)")
	}
	return p
}

func TestResolveGuestPrograms(t *testing.T) {
	nft := hostNftOrSkip(t)
	g, err := resolveGuestPrograms([]string{"nft", nft}) // the same program twice
	if err != nil {
		t.Fatal(err)
	}
	if g.Files[0] != nft || !slices.Equal(g.Path, []string{filepath.Dir(nft)}) {
		t.Errorf("files %q, path %q: want %s first and its directory", g.Files, g.Path, nft)
	}
	bases := map[string]int{}
	for _, f := range g.Files {
		bases[filepath.Base(f)]++
	}
	for _, want := range []string{"ld-linux-x86-64.so.2", "libc.so.6", "libnftables.so.1", "libmnl.so.0"} {
		if bases[want] != 1 {
			t.Errorf("%s %d times in %q", want, bases[want], g.Files)
		}
	}
	if len(g.LibraryPath) == 0 || slices.Contains(g.LibraryPath, "/lib64") {
		t.Errorf("library path %q: the libraries' directories, not the loader's", g.LibraryPath)
	}
	if _, err := resolveGuestPrograms([]string{"no-such-program-here"}); err == nil {
		t.Error("a missing program must fail the run, not vanish from the guest")
	}
	if g, err := resolveGuestPrograms(nil); err != nil || len(g.Files) != 0 {
		t.Errorf("no programs: %+v, %v", g, err)
	}
}

func TestHostToolsInstallKnownPrograms(t *testing.T) {
	if got := hostTools(nil); len(got) != len(baseTools) {
		t.Errorf("no programs: %d tools, want the %d base tools", len(got), len(baseTools))
	}
	var pkgs []string
	for _, tool := range hostTools([]string{"nft", "some-tool"}) {
		pkgs = append(pkgs, tool.pkg)
	}
	if !slices.Contains(pkgs, "nftables") || len(pkgs) != len(baseTools)+1 {
		t.Errorf("packages %q: want the base tools and nftables", pkgs)
	}
}

// TestGuestProgramsRunInChroot unpacks an archive holding only static busybox and the guest
// programs, and runs nft from it in a chroot with the guest's PATH and LD_LIBRARY_PATH and a
// netns of its own: nothing the host has outside the archive can help it.
func TestGuestProgramsRunInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot and netns need root")
	}
	hostNftOrSkip(t)
	if !staticBusybox() {
		t.Skip("needs busybox-static")
	}
	g, err := resolveGuestPrograms([]string{"nft"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "programs.cpio")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	c := vm.NewCPIO(w)
	if err := c.CopyFile("bin/busybox", busyboxPath); err != nil {
		t.Fatal(err)
	}
	if err := g.add(c); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	unpack := exec.Command(busyboxPath, "cpio", "-i", "-d", "-F", archive)
	unpack.Dir = root
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v: %s", err, out)
	}

	// The scenario's kind of ruleset: nft must talk to the kernel, not just start.
	script := `printf 'table inet t {\n chain in {\n type filter hook input priority 0; policy accept;\n ct state new accept\n }\n}\n' | nft -f - && nft list ruleset`
	run := func(chroot string, env []string) (string, error) {
		cmd := exec.Command(busyboxPath, "sh", "-c", script) // the same path in the chroot
		cmd.Env, cmd.Dir = env, "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: chroot, Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("", os.Environ()); err != nil {
		t.Skipf("the host's own nft cannot load the ruleset (kernel without nf_tables or nft_ct?): %v: %s", err, out)
	}
	out, err := run(root, []string{"PATH=" + strings.Join(append(g.Path, "/bin"), ":"), "LD_LIBRARY_PATH=" + strings.Join(g.LibraryPath, ":")})
	if err != nil {
		t.Fatalf("nft in the chroot: %v: %s", err, out)
	}
	if !strings.Contains(out, "ct state new accept") {
		t.Errorf("ruleset not listed back:\n%s", out)
	}
}
