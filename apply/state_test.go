package apply

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// nobody is an unprivileged uid: neither root nor the test's user.
const nobody = 65534

// everyRun runs each command that reads the state dir and returns their errors by name.
func everyRun(o Options) map[string]error {
	a := New(o)
	plan := []policy.Action{action(somaxconn, "", "8192")}
	errs := map[string]error{}
	_, errs["apply"] = a.Apply(plan)
	_, errs["rollback"] = a.Rollback("")
	_, errs["status"] = a.Status()
	_, errs["dry run"] = a.DryRun(plan)
	_, errs["auto"] = a.Auto(&model.Sample{Time: t0}, fake(noEngine))
	return errs
}

func wantRefused(t *testing.T, o Options, why string, runs ...string) {
	t.Helper()
	errs := everyRun(o)
	if len(runs) == 0 {
		runs = []string{"apply", "rollback", "status", "dry run", "auto"}
	}
	for _, name := range runs {
		err := errs[name]
		var ue *fsx.UnsafeError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v; want a refusal saying %q", name, err, why)
		}
	}
	if read(t, o, somaxconn, "") != "4096" {
		t.Error("a knob changed")
	}
}

// TestSymlinkedJournal is the report's case: a journal that is a symlink to someone else's
// file (without a trailing newline, which the old code cut off as a torn line) or to a
// missing path (which it created as root).
func TestSymlinkedJournal(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("line one\nno newline at the end"), 0o644); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(o.StateDir, journalFile)
	if err := os.Symlink(victim, journal); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, o, "symbolic link", "apply", "rollback", "status", "dry run")
	if b, _ := os.ReadFile(victim); string(b) != "line one\nno newline at the end" {
		t.Fatalf("the symlink's target was changed: %q", b)
	}
	// Apply with nothing to do used to open (and cut) the journal too.
	if _, err := New(o).Apply(nil); !errors.Is(err, fsx.ErrUnsafe) {
		t.Fatalf("empty apply: %v", err)
	}

	missing := filepath.Join(t.TempDir(), "created-by-root")
	if err := os.Remove(journal); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(missing, journal); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, o, "symbolic link", "apply", "rollback", "status", "dry run")
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a run created the symlink's target: %v", err)
	}
}

func TestSymlinkedStateFiles(t *testing.T) {
	lab.RequireRoot(t)
	for _, name := range []string{baselineFile, autoFile} {
		t.Run(name, func(t *testing.T) {
			o := fixture(t)
			if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(o.StateDir, name)); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, o, "symbolic link", "auto")
		})
	}
	t.Run("state dir", func(t *testing.T) {
		o := fixture(t)
		real := t.TempDir()
		if err := os.Symlink(real, o.StateDir); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, o, "symbolic link")
	})
}

// TestForeignState: state written by another user, or that another user could have written,
// is refused by every command, root's or not.
func TestForeignState(t *testing.T) {
	lab.RequireRoot(t)
	applied := func(t *testing.T) Options {
		o := fixture(t)
		if _, err := New(o).Apply([]policy.Action{action(somaxconn, "", "8192")}); err != nil {
			t.Fatal(err)
		}
		if _, err := New(o).Rollback(""); err != nil {
			t.Fatal(err)
		}
		return o
	}
	for name, tc := range map[string]struct {
		change func(t *testing.T, o Options)
		why    string
	}{
		"journal owned by another user": {func(t *testing.T, o Options) {
			chown(t, filepath.Join(o.StateDir, journalFile))
		}, "owned by uid 65534"},
		"journal others may write": {func(t *testing.T, o Options) {
			chmod(t, filepath.Join(o.StateDir, journalFile), 0o666)
		}, "writable by group or others"},
		"journal a directory": {func(t *testing.T, o Options) {
			p := filepath.Join(o.StateDir, journalFile)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		"journal hard-linked": {func(t *testing.T, o Options) {
			if err := os.Link(filepath.Join(o.StateDir, journalFile), filepath.Join(t.TempDir(), "l")); err != nil {
				t.Fatal(err)
			}
		}, "hard links"},
		"state dir owned by another user": {func(t *testing.T, o Options) { chown(t, o.StateDir) }, "owned by uid 65534"},
		// The report: a 0777 state dir where anyone can write a journal line root replays.
		"state dir anyone may write": {func(t *testing.T, o Options) { chmod(t, o.StateDir, 0o777) }, "writable by group or others"},
		"parent anyone may write": {func(t *testing.T, o Options) {
			chmod(t, filepath.Dir(o.StateDir), 0o777)
		}, "parent directory"},
	} {
		t.Run(name, func(t *testing.T) {
			o := applied(t)
			tc.change(t, o)
			wantRefused(t, o, tc.why)
		})
	}
	t.Run("baseline owned by another user", func(t *testing.T) {
		o := applied(t)
		if _, err := New(o).Auto(&model.Sample{Time: t0}, fake(noEngine)); err != nil {
			t.Fatal(err)
		}
		chown(t, filepath.Join(o.StateDir, baselineFile))
		wantRefused(t, o, "owned by uid 65534", "auto")
	})
}

func chown(t *testing.T, path string) {
	t.Helper()
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestStateDirCreated0700(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	old := unix.Umask(0)
	defer unix.Umask(old)
	if _, err := New(o).Apply(nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(o.StateDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir %v %v", fi.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(o.StateDir, journalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an apply with nothing to do created a journal: %v", err)
	}
	if _, err := New(o).Apply([]policy.Action{action(somaxconn, "", "8192")}); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Lstat(filepath.Join(o.StateDir, journalFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal %v %v", fi.Mode(), err)
	}
}

// TestLockTimeoutZero: a negative timeout (lock_timeout: 0s in the config) does not wait.
func TestLockTimeoutZero(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	if _, err := New(o).Apply(nil); err != nil {
		t.Fatal(err)
	}
	d, err := fsx.OpenDir(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := lockDir(d, time.Second); err != nil {
		t.Fatal(err)
	}
	o.LockTimeout = -1
	start := time.Now()
	if _, err := New(o).Apply(nil); !errors.Is(err, ErrLocked) || time.Since(start) > 40*time.Millisecond {
		t.Fatalf("%v after %s; want ErrLocked at once", err, time.Since(start))
	}
}

// TestRollbackEINVALMidway: the kernel refuses the second restore (ipfrag_high_thresh may not
// go below ipfrag_low_thresh, a bound the knob table cannot know) after the first succeeded. The error says what was already restored, and
// is no bad-input error.
func TestRollbackEINVALMidway(t *testing.T) {
	ns := lab.NewNS(t, "einval")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	const ipfrag = "sysctl:net.ipv4.ipfrag_high_thresh"
	high := read(t, o, ipfrag, ns.Name)
	bad := "1"
	ino, err := netnsIno(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	older := set(ipfrag, ns.Name, bad, high)
	older.NetnsIno = ino
	newer := set(somaxconn, ns.Name, "4096", "8192")
	newer.Apply, newer.NetnsIno = "20260301T130000Z-0a0b0c", ino
	if err := os.WriteFile(filepath.Join(o.StateDir, journalFile),
		[]byte(headerLine(t)+line(t, older)+line(t, newer)), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := live.Parse(somaxconn, ns.Name, o.Env)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Write("8192"); err != nil { // as the apply the journal records left it
		t.Fatal(err)
	}

	res, err := New(o).Rollback("")
	var ce *ChangeError
	if !errors.As(err, &ce) || !errors.Is(err, unix.EINVAL) || ce.Knob != ipfrag+" [netns "+ns.Name+"]" ||
		len(ce.Done) != 1 || !strings.Contains(ce.Done[0], somaxconn) {
		t.Fatalf("rollback: %v\n%+v", err, res)
	}
	if !strings.Contains(err.Error(), "already changed by this run") || !strings.Contains(err.Error(), somaxconn) {
		t.Errorf("message does not say what was already restored: %v", err)
	}
	for _, sentinel := range []error{ErrCorruptJournal, ErrNotRoot, ErrLocked, ErrUnknownJournalID, ErrStateDirReadOnly, fsx.ErrUnsafe} {
		if errors.Is(err, sentinel) {
			t.Errorf("a failed change matches the bad-input error %v", sentinel)
		}
	}
	if read(t, o, somaxconn, ns.Name) != "4096" || read(t, o, ipfrag, ns.Name) != high {
		t.Fatalf("somaxconn %s (want 4096 restored), ipfrag_high_thresh %s (want untouched %s)",
			read(t, o, somaxconn, ns.Name), read(t, o, ipfrag, ns.Name), high)
	}
	// The journal records both: the restore done, the failed one failed, for a later rollback.
	lines, err := readJournal(o.StateDir)
	if err != nil || lines[len(lines)-1].State != StateFailed || lines[len(lines)-1].Knob != ipfrag {
		t.Fatalf("journal after the failure: %v %+v", err, lines)
	}
}

// TestReplacedNetnsLeftAlone: a namespace name that now names another namespace (deleted and
// created again) is not the one nettune changed: status and rollback say the one nettune
// changed is gone, rollback writes nothing, and the journal closes its entries.
func TestReplacedNetnsLeftAlone(t *testing.T) {
	ns := lab.NewNS(t, "renew")
	o := Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}
	if _, err := New(o).Apply([]policy.Action{action(somaxconn, ns.Name, "8192")}); err != nil {
		t.Fatal(err)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || lines[0].NetnsIno == 0 {
		t.Fatalf("the journal does not identify the namespace: %v %+v", err, lines)
	}
	lines[0].NetnsIno++ // as if the name had been reused by a new namespace
	lines[1].NetnsIno++
	if err := os.WriteFile(filepath.Join(o.StateDir, journalFile),
		[]byte(headerLine(t)+line(t, lines[0])+line(t, lines[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := New(o).Status()
	if err != nil || len(st.Knobs) != 1 || !strings.Contains(st.Knobs[0].Error, "no longer exists") {
		t.Fatalf("status: %v %+v", err, st)
	}
	res, err := New(o).Rollback("")
	if err != nil || res.Steps[0].Decision != DecideGone || !strings.Contains(res.Steps[0].Note, "another namespace") {
		t.Fatalf("rollback: %v\n%+v", err, res)
	}
	if read(t, o, somaxconn, ns.Name) != "8192" {
		t.Fatal("rollback wrote into a namespace nettune did not change")
	}
	if st, err := New(o).Status(); err != nil || len(st.Knobs) != 0 {
		t.Fatalf("status after the rollback still names the gone namespace: %v %+v", err, st)
	}
	if res, err := New(o).Rollback(""); err != nil || len(res.Steps) != 0 {
		t.Fatalf("a second rollback: %v %+v", err, res)
	}
}
