package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/nettune/nettune/cmd/internal/cli"
)

// manPages is the page every available command must have: nettune.1, nettune-advise.1, ...
func manPages(c *cobra.Command) []string {
	pages := []string{strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			pages = append(pages, manPages(sub)...)
		}
	}
	return pages
}

// TestGenerateIsReproducible: the same commit gives byte-identical pages and completions.
func TestGenerateIsReproducible(t *testing.T) {
	date := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a, b := t.TempDir(), t.TempDir()
	if err := generate(a, date); err != nil {
		t.Fatal(err)
	}
	if err := generate(b, date); err != nil {
		t.Fatal(err)
	}
	fa, fb := files(t, a), files(t, b)
	if !slices.Equal(fa, fb) {
		t.Fatalf("file lists differ: %v vs %v", fa, fb)
	}
	for _, f := range fa {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", f)
		}
		if len(x) == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	want := manPages(cli.Tree())
	for i := range want {
		want[i] = "man/" + want[i]
	}
	want = append(want, "completions/_nettune", "completions/nettune.bash", "completions/nettune.fish")
	slices.Sort(want)
	if !slices.Equal(fa, want) {
		t.Errorf("generated %v\nwant %v", fa, want)
	}
	if page, _ := os.ReadFile(filepath.Join(a, "man", "nettune-advise.1")); !bytes.Contains(page, []byte(`"Mar 2026"`)) {
		t.Errorf("nettune-advise.1 is not dated by SOURCE_DATE_EPOCH:\n%.200s", page)
	}
}

// files lists the regular files under dir, relative, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestMakeInstallUninstall runs the Makefile's install into a DESTDIR with a PREFIX of its own,
// checks every file it put there, that the binary, man pages and completions work, then that
// uninstall removes all of it.
func TestMakeInstallUninstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nettune and runs make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	const prefix = "/opt/nettune"
	mk := func(target string) {
		t.Helper()
		cmd := exec.Command("make", "-C", repo, target, "DESTDIR="+dest, "PREFIX="+prefix,
			"BIN="+filepath.Join(tmp, "nettune"), "GEN="+filepath.Join(tmp, "gen"))
		// Not the variables of a `make test` (or sudo) this test may run under.
		cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=", "SUDO_USER=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	mk("install")

	root := filepath.Join(dest, prefix)
	want := []string{"bin/nettune",
		"lib/systemd/system/nettune-restore.service", "lib/systemd/system/nettune-serve.service", "lib/systemd/system/nettune.service",
		"lib/systemd/system/nettune.timer",
		"share/bash-completion/completions/nettune", "share/fish/vendor_completions.d/nettune.fish",
		"share/zsh/site-functions/_nettune", "share/doc/nettune/README.md"}
	docs, _ := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	for _, d := range docs {
		want = append(want, "share/doc/nettune/"+filepath.Base(d))
	}
	for _, e := range []string{"nettune.yaml", "nettune.cron", "prometheus/alerts.yaml", "grafana/nettune.json", "kubernetes/daemonset.yaml"} {
		want = append(want, "share/doc/nettune/examples/"+e)
	}
	for _, p := range manPages(cli.Tree()) {
		want = append(want, "share/man/man1/"+p)
	}
	slices.Sort(want)
	if got := files(t, dest); !slices.Equal(got, prefixed(strings.TrimPrefix(prefix, "/")+"/", want)) {
		t.Fatalf("installed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, f := range want {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(0o644)
		if f == "bin/nettune" {
			mode = 0o755
		}
		if fi.Mode().Perm() != mode || fi.Size() == 0 {
			t.Errorf("%s: mode %v size %d, want %v and not empty", f, fi.Mode().Perm(), fi.Size(), mode)
		}
	}
	if out, err := exec.Command(filepath.Join(root, "bin/nettune"), "version").Output(); err != nil || !strings.HasPrefix(string(out), "nettune ") {
		t.Errorf("installed nettune version: %v %q", err, out)
	}
	for _, u := range []string{"nettune.service", "nettune-serve.service"} {
		b, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system", u))
		if !strings.Contains(string(b), "ExecStart="+prefix+"/bin/nettune ") || strings.Contains(string(b), "/usr/local/bin") {
			t.Errorf("%s does not run %s/bin/nettune:\n%s", u, prefix, b)
		}
	}
	checkCompletions(t, root)
	checkManPages(t, filepath.Join(root, "share/man/man1"))

	mk("uninstall")
	if left := files(t, dest); len(left) != 0 {
		t.Errorf("uninstall left %v", left)
	}
	if _, err := os.Stat(filepath.Join(root, "share/doc/nettune")); !os.IsNotExist(err) {
		t.Errorf("uninstall left share/doc/nettune: %v", err)
	}
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

// checkCompletions loads each completion script into its shell: bash must register the
// completion function; zsh and fish, where installed, must parse theirs.
func checkCompletions(t *testing.T, root string) {
	bash := filepath.Join(root, "share/bash-completion/completions/nettune")
	out, err := exec.Command("bash", "-c", `source "$1" && complete -p nettune`, "bash", bash).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-F __start_nettune nettune") {
		t.Errorf("bash completion does not load: %v\n%s", err, out)
	}
	for shell, file := range map[string]string{"zsh": "share/zsh/site-functions/_nettune", "fish": "share/fish/vendor_completions.d/nettune.fish"} {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s not installed: its completion is only checked for being non-empty", shell)
			}
			if out, err := exec.Command(shell, "-n", filepath.Join(root, file)).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", shell, file, err, out)
			}
		})
	}
}

// checkManPages renders every page with man(1), where installed: no warnings, and a NAME
// section naming the command.
func checkManPages(t *testing.T, dir string) {
	t.Run("man", func(t *testing.T) {
		if _, err := exec.LookPath("man"); err != nil {
			t.Skip("man not installed: the pages are only checked for being non-empty")
		}
		pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
		for _, p := range pages {
			cmd := exec.Command("man", "--warnings", "-l", p)
			cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			name := strings.TrimSuffix(filepath.Base(p), ".1")
			named := regexp.MustCompile(`\n\s+` + regexp.QuoteMeta(name) + `\s+-\s`) // justified: spaces vary
			if err != nil || stderr.Len() > 0 || !strings.Contains(string(out), "NAME") || !named.Match(out) {
				t.Errorf("man -l %s: %v, stderr %q\n%.300s", filepath.Base(p), err, stderr.String(), out)
			}
		}
	})
}
