package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206001757-8c8ffbec8e9a+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "8c8ffbec8e9a660523905715d26e37fb4a5c52c3"},
			{Key: "vcs.time", Value: "2026-12-06T00:17:57Z"}, {Key: "vcs.modified", Value: "true"}}}
	version, text := versionText(bi, true)
	if version != "v0.0.0-20261206001757-8c8ffbec8e9a+dirty" {
		t.Errorf("version %q", version)
	}
	for _, want := range []string{"nettune v0.0.0-20261206001757-8c8ffbec8e9a+dirty\n",
		"revision  8c8ffbec8e9a660523905715d26e37fb4a5c52c3 (with uncommitted changes)\n",
		"committed 2026-12-06T00:17:57Z\n", "go        go1.26.8 "} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	bi.Settings[2].Value = "false"
	if _, text := versionText(bi, true); strings.Contains(text, "uncommitted") {
		t.Errorf("clean tree reported as modified:\n%s", text)
	}
	if _, text := versionText(nil, false); !strings.Contains(text, "nettune (unknown)\n") || !strings.Contains(text, "revision  unknown") {
		t.Errorf("no build info:\n%s", text)
	}
}

func TestVersionCommandAndFlag(t *testing.T) {
	code, cmdOut, stderr := run(t, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("version: exit %d, stderr %q", code, stderr)
	}
	code, flagOut, stderr := run(t, "--version")
	if code != 0 || stderr != "" {
		t.Fatalf("--version: exit %d, stderr %q", code, stderr)
	}
	if cmdOut != flagOut || !strings.HasPrefix(cmdOut, "nettune ") {
		t.Errorf("version printed %q, --version %q", cmdOut, flagOut)
	}
	if code, _, _ := run(t, "version", "extra"); code != ExitUsage {
		t.Errorf("version with an argument: exit %d, want %d", code, ExitUsage)
	}
}

// TestVersionOfBuiltBinary: a binary built from a git clone names the commit it was built
// from (the test binary itself carries no VCS stamp).
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nettune")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		t.Skip("not a plain git clone (a worktree's .git is a file): go build stamps no revision")
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git rev-parse HEAD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nettune")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/nettune")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("nettune %s: %v", args[0], err)
		}
		if want := "revision  " + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
			t.Errorf("nettune %s: no %q in\n%s", args[0], want, out)
		}
		if !strings.HasPrefix(string(out), "nettune v") {
			t.Errorf("nettune %s: no module version in\n%s", args[0], out)
		}
	}
}
