package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDebVersion(t *testing.T) {
	date := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"v1.2.3":                               "1.2.3",
		"v1.2.3-rc.1":                          "1.2.3~rc.1",
		"(devel)":                              "0.0.0~dev20260301120000",
		"v1.2.4-0.20260301120000-8c8ffbec8e9a": "1.2.4~0.20260301120000~8c8ffbec8e9a",
		"v0.0.0-20260301120000-8c8ffbec8e9a+dirty": "0.0.0~20260301120000~8c8ffbec8e9a+dirty",
	} {
		if got, err := debVersion(in, date); err != nil || got != want {
			t.Errorf("debVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "latest", "v1.2.3_x"} {
		if got, err := debVersion(bad, date); err == nil {
			t.Errorf("debVersion(%q) = %q, want an error", bad, got)
		}
	}
	// dpkg orders a pseudo-version before the release it leads to, and after the one before.
	if _, err := exec.LookPath("dpkg"); err == nil {
		for _, c := range [][2]string{{"1.2.3", "1.2.4~0.20260301120000~8c8ffbec8e9a"}, {"1.2.4~0.20260301120000~8c8ffbec8e9a", "1.2.4"},
			{"1.2.3~rc.1", "1.2.3"}, {"0.0.0~20260301120000~8c8ffbec8e9a", "0.0.0~20260302120000~0123456789ab"}} {
			if err := exec.Command("dpkg", "--compare-versions", c[0], "lt", c[1]).Run(); err != nil {
				t.Errorf("dpkg does not order %s before %s", c[0], c[1])
			}
		}
	}
}

// makeDeb runs `make deb` with every output in a directory of the test's own and returns
// the package's path.
func makeDeb(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds nettune and the package")
	}
	for _, tool := range []string{"make", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-C", "../../..", "deb", "DEB_OUT="+out, "DEB_STAGE="+filepath.Join(tmp, "stage"),
		"BIN="+filepath.Join(tmp, "nettune"), "GEN="+filepath.Join(tmp, "gen"))
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=", "SUDO_USER=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "nettune_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb wrote %v", debs)
	}
	return debs[0]
}

func debField(t *testing.T, deb, field string) string {
	t.Helper()
	b, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s: %v", field, err)
	}
	return strings.TrimSpace(string(b))
}

// TestDebContents: two builds of one commit are the same bytes; the package holds the binary,
// units that run /usr/bin/nettune, compressed man pages, completions, docs and the example
// config, and its maintainer scripts.
func TestDebContents(t *testing.T) {
	a, b := makeDeb(t), makeDeb(t)
	if filepath.Base(a) != filepath.Base(b) {
		t.Errorf("two builds named %s and %s", filepath.Base(a), filepath.Base(b))
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Error("two builds of the same tree differ: the package is not reproducible")
	}
	if got := debField(t, a, "Package"); got != "nettune" {
		t.Errorf("Package %q", got)
	}
	if v := debField(t, a, "Version"); !strings.Contains(filepath.Base(a), "_"+v+"_") {
		t.Errorf("Version %q does not match the file name %s", v, filepath.Base(a))
	}
	list, err := exec.Command("dpkg-deb", "-c", a).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-rwxr-xr-x root/root .* ./usr/bin/nettune\n",
		"./usr/lib/systemd/system/nettune.service\n", "./usr/lib/systemd/system/nettune.timer\n",
		"./usr/lib/systemd/system/nettune-serve.service\n", "./usr/lib/systemd/system/nettune-restore.service\n",
		"./usr/share/man/man1/nettune.1.gz\n", "./usr/share/man/man1/nettune-restore.1.gz\n",
		"./usr/share/man/man1/nettune-advise.1.gz\n", "./usr/share/bash-completion/completions/nettune\n",
		"./usr/share/zsh/vendor-completions/_nettune\n", "./usr/share/fish/vendor_completions.d/nettune.fish\n",
		"./usr/share/doc/nettune/examples/nettune.yaml\n", "./usr/share/doc/nettune/operations.md\n"} {
		if !matches(want, string(list)) {
			t.Errorf("package lacks %q", want)
		}
	}
	ctrl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", a, ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctrl, s))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("maintainer script %s: %v", s, err)
		}
	}
	fsys := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", a, fsys).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(fsys, "usr/lib/systemd/system/nettune.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/nettune apply --auto --netns host\n") {
		t.Errorf("nettune.service does not run /usr/bin/nettune:\n%s", unit)
	}
}

func matches(pattern, s string) bool {
	if !strings.Contains(pattern, ".*") {
		return strings.Contains(s, pattern)
	}
	pre, post, _ := strings.Cut(pattern, ".*")
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, pre) && strings.HasSuffix(line, post) {
			return true
		}
	}
	return false
}

const stateDir = "/var/lib/nettune"

// needHost skips unless this machine can take the package for the length of the test: root,
// dpkg, no nettune installed by any other means, and no state directory of a real nettune
// (purge would remove it).
func needHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("installs a package: needs root")
	}
	for _, tool := range []string{"dpkg", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if installed() {
		t.Skip("a nettune package is already installed on this machine")
	}
	for _, p := range []string{"/usr/bin/nettune", stateDir} {
		if _, err := os.Lstat(p); err == nil {
			t.Skipf("%s exists: this machine has a nettune the test must not touch", p)
		}
	}
}

func installed() bool {
	out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Status}", "nettune").Output()
	return len(out) > 0 && string(out) != "not-installed"
}

// dpkg runs dpkg with args, waiting for another dpkg or apt run to let go of the lock.
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(2 * time.Second)
	}
}

// purgeAtEnd leaves the machine as it found it however the test ends: package purged, the
// state directory it created removed.
func purgeAtEnd(t *testing.T) {
	t.Cleanup(func() {
		if installed() {
			if out, err := exec.Command("dpkg", "--purge", "nettune").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge nettune: %v\n%s", err, out)
			}
		}
		if err := os.RemoveAll(stateDir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// packageFiles are the files (not directories) the package installs.
func packageFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-L", "nettune").Output()
	if err != nil {
		t.Fatalf("dpkg-query -L nettune: %v", err)
	}
	var files []string
	for _, p := range strings.Fields(string(out)) {
		if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
			files = append(files, p)
		}
	}
	return files
}

// labLock takes the lab's host-wide lock (the flock that internal/lab.Global takes): advise
// attaches the kfree_skb tracer, which sees every namespace.
func labLock(t *testing.T) {
	f, err := os.OpenFile("/run/lock/nettune-lab-global.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// netnsOfTest creates a network namespace for advise to measure (not the host's, whose
// interfaces a test leaves alone) and deletes it at the end.
func netnsOfTest(t *testing.T) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "ntdeb" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	return name
}

// exitStatus runs a command and returns its exit status and output.
func exitStatus(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return 0, string(out)
}

// TestDebInstallRemovePurge installs the package with dpkg, runs nettune from PATH, and
// removes and purges it: nothing of it may be left, and the timer was never enabled.
func TestDebInstallRemovePurge(t *testing.T) {
	needHost(t)
	deb := makeDeb(t)
	purgeAtEnd(t)
	dpkg(t, "-i", deb)

	path, err := exec.LookPath("nettune")
	if err != nil || path != "/usr/bin/nettune" {
		t.Fatalf("nettune on PATH: %q, %v", path, err)
	}
	if code, out := exitStatus(t, "nettune", "version"); code != 0 || !strings.HasPrefix(out, "nettune ") {
		t.Errorf("nettune version: exit %d\n%s", code, out)
	}
	// check: 0 full mode, 1 degraded; both are answers.
	if code, out := exitStatus(t, "nettune", "check"); code > 1 || !strings.Contains(out, "mode") {
		t.Errorf("nettune check: exit %d\n%s", code, out)
	}
	labLock(t)
	ns := netnsOfTest(t)
	// advise: 0 no loss, 1 loss found.
	if code, out := exitStatus(t, "ip", "netns", "exec", ns, "nettune", "advise", "--interval", "1s", "--xdp", "off"); code > 1 || out == "" {
		t.Errorf("nettune advise: exit %d\n%s", code, out)
	}
	if _, err := os.Lstat("/etc/systemd/system/timers.target.wants/nettune.timer"); err == nil {
		t.Error("installing enabled nettune.timer")
	}

	// A journal whose one change was rolled back: nothing to keep.
	writeJournal(t, true)
	files := packageFiles(t)
	dpkg(t, "--remove", "nettune")
	for _, f := range files {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s left after dpkg --remove", f)
		}
	}
	out := dpkg(t, "--purge", "nettune")
	if installed() {
		t.Error("nettune still known to dpkg after --purge")
	}
	if _, err := os.Lstat(stateDir); err == nil {
		t.Errorf("purge left %s although everything was rolled back\n%s", stateDir, out)
	}
	for _, d := range []string{"/usr/share/doc/nettune"} {
		if _, err := os.Lstat(d); err == nil {
			t.Errorf("%s left after purge", d)
		}
	}
}

// TestDebPurgeKeepsUnrolledJournal: purge keeps /var/lib/nettune, and says so, while its
// journal holds a change not rolled back (so `nettune rollback` can still undo it).
func TestDebPurgeKeepsUnrolledJournal(t *testing.T) {
	needHost(t)
	deb := makeDeb(t)
	purgeAtEnd(t)
	dpkg(t, "-i", deb)
	writeJournal(t, false)
	out := dpkg(t, "--purge", "nettune")
	if installed() {
		t.Error("nettune still known to dpkg after --purge")
	}
	if !strings.Contains(out, "changes not rolled back") || !strings.Contains(out, "keeping "+stateDir) {
		t.Errorf("purge did not say it keeps %s:\n%s", stateDir, out)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "journal.jsonl")); err != nil {
		t.Errorf("purge removed the journal: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "changes-in-effect")); err != nil || !strings.Contains(string(b), "sysctl:net.core.somaxconn") {
		t.Errorf("changes-in-effect does not list the change: %v\n%s", err, b)
	}
}

// writeJournal creates the state directory with a journal of one change to the host's
// net.core.somaxconn, rolled back or not. Nothing is written to the kernel: the entries say
// what nettune would have done, and status only reads the knob.
func writeJournal(t *testing.T, rolledBack bool) {
	t.Helper()
	cur, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(string(cur))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	j := fmt.Sprintf(`{"apply":"20260301T120000Z-3fa2c1","seq":1,"op":"set","knob":"sysctl:net.core.somaxconn","old":%q,"new":"%s0","got":"%s0","reason":"test","time":%q,"state":"done"}`+"\n",
		old, old, old, now)
	if rolledBack {
		j += fmt.Sprintf(`{"apply":"20260301T120100Z-4ab3d2","seq":1,"op":"restore","knob":"sysctl:net.core.somaxconn","old":"%s0","new":%q,"got":%q,"reason":"rollback","time":%q,"state":"done","undoes":[{"apply":"20260301T120000Z-3fa2c1","seq":1}]}`+"\n",
			old, old, old, now)
	}
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, "journal.jsonl"), []byte(j), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "sysctl:net.core.somaxconn"
	if rolledBack {
		want = "no changes in effect"
	}
	if code, out := exitStatus(t, "nettune", "status"); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("nettune status on the test journal: exit %d, want %q\n%s", code, want, out)
	}
}
