package apply

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

func noEngine(*model.Delta) *policy.Report { return &policy.Report{} }

func TestUnknownJournalID(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	a := New(o)
	if _, err := a.Apply([]policy.Action{action(somaxconn, "", "8192")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rollback("20990101T000000Z-000000"); !errors.Is(err, ErrUnknownJournalID) {
		t.Fatalf("want ErrUnknownJournalID, got %v", err)
	}
	if read(t, o, somaxconn, "") != "8192" {
		t.Fatal("a failed rollback changed a knob")
	}
}

func TestCorruptJournal(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	a := New(o)
	if _, err := a.Apply([]policy.Action{action(somaxconn, "", "8192")}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(o.StateDir, journalFile)
	good, _ := os.ReadFile(path)

	// A crash mid-write leaves a partial last line: not corruption, and cut before appending.
	if err := os.WriteFile(path, append(slices.Clone(good), `{"apply":"x","seq":1,"op":"se`...), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := a.Status(); err != nil || len(st.Knobs) != 1 {
		t.Fatalf("partial trailing line: %v %v", st, err)
	}
	if _, err := a.Apply([]policy.Action{action(backlog, "", "2000")}); err != nil {
		t.Fatal(err)
	}
	if _, err := readJournal(o.StateDir); err != nil {
		t.Fatalf("journal after appending past a partial line: %v", err)
	}

	// Garbage in the middle is corruption: every command refuses and changes nothing.
	lines := strings.SplitAfter(string(good), "\n")
	bad := lines[0] + "garbage\n" + strings.Join(lines[1:], "")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	before := read(t, o, somaxconn, "")
	_, errApply := a.Apply([]policy.Action{action(somaxconn, "", "16384")})
	_, errRollback := a.Rollback("")
	_, errStatus := a.Status()
	_, errDry := a.DryRun(nil)
	for _, err := range []error{errApply, errRollback, errStatus, errDry} {
		if !errors.Is(err, ErrCorruptJournal) {
			t.Errorf("want ErrCorruptJournal, got %v", err)
		}
	}
	if read(t, o, somaxconn, "") != before {
		t.Fatal("a command changed a knob despite a corrupt journal")
	}
}

func TestReadOnlyStateDir(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	// Root writes through file modes, so make the state dir a read-only mount.
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", o.StateDir, "tmpfs", unix.MS_RDONLY, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a read-only tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(o.StateDir, 0) })
	a := New(o)
	_, err1 := a.Apply([]policy.Action{action(somaxconn, "", "8192")})
	_, err2 := a.Rollback("")
	_, err3 := a.Auto(&model.Sample{}, fake(noEngine))
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrStateDirReadOnly) {
			t.Errorf("want ErrStateDirReadOnly, got %v", err)
		}
	}
	if read(t, o, somaxconn, "") != "4096" {
		t.Fatal("knob changed")
	}
}

func TestNotRoot(t *testing.T) {
	o := fixture(t)
	geteuid = func() int { return 1000 }
	t.Cleanup(func() { geteuid = os.Geteuid })
	a := New(o)
	_, err1 := a.Apply([]policy.Action{action(somaxconn, "", "8192")})
	_, err2 := a.Rollback("")
	_, err3 := a.Auto(&model.Sample{}, fake(noEngine))
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrNotRoot) {
			t.Errorf("want ErrNotRoot, got %v", err)
		}
	}
	if read(t, o, somaxconn, "") != "4096" {
		t.Fatal("knob changed")
	}
	if _, err := os.Stat(o.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("non-root run created the state dir: %v", err)
	}
	if res, err := a.DryRun([]policy.Action{action(somaxconn, "", "8192")}); err != nil || res.Changed() != 1 {
		t.Errorf("dry run works without root: %v", err)
	}
}

func TestParseSysctlConf(t *testing.T) {
	f, err := os.Open("testdata/conf/etc/sysctl.d/90-admin.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := parseSysctlConf(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"net.core.netdev_max_backlog", "net.core.rmem_max", "net.ipv4.conf.eth0/100.rp_filter"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	o, err := readOwners("testdata/conf", t.TempDir(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if o.pinned["kernel.pid_max"] == "" || o.pinned["net.core.netdev_max_backlog"] == "" || o.irqbalance {
		t.Fatalf("owners %+v", o)
	}
	// Auto mode passes the sample's answer instead of scanning /proc again.
	running := true
	if o, err = readOwners("testdata/conf", t.TempDir(), &running, ""); err != nil || !o.irqbalance {
		t.Fatalf("owners %+v, err %v: want irqbalance from the caller", o, err)
	}
}
