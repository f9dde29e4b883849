package apply

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/policy"
)

const (
	backlog   = "sysctl:net.core.netdev_max_backlog" // 1000 in the fixture
	somaxconn = "sysctl:net.core.somaxconn"          // 4096
	tcpRmem   = "sysctl:net.ipv4.tcp_rmem"           // 4096 131072 33554432
)

func TestDryRunChangesNothing(t *testing.T) {
	o := fixture(t)
	plan := []policy.Action{action(somaxconn, "", "8192"), action("irq-affinity:41", "", "1")}
	res, err := New(o).DryRun(plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed() != 2 || read(t, o, somaxconn, "") != "4096" || read(t, o, "irq-affinity:41", "") != "0-1" {
		t.Fatalf("dry run:\n%+v", res)
	}
	for i, want := range []policy.Action{
		{Knob: somaxconn, Current: "4096", Proposed: "8192", Command: "sysctl -w net.core.somaxconn=8192"},
		{Knob: "irq-affinity:41", Current: "0-1", Proposed: "1"},
	} {
		s := res.Steps[i]
		if s.Knob != want.Knob || s.Current != want.Current || s.Proposed != want.Proposed ||
			(want.Command != "" && s.Command != want.Command) || !strings.Contains(s.Why, "test: raise") {
			t.Errorf("dry run step %d: %+v, want %+v", i, s, want)
		}
	}
	if _, err := os.Stat(o.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run created the state dir: %v", err)
	}
}

func TestApplyJournalsAndVerifies(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	res, err := New(o).Apply([]policy.Action{action(somaxconn, "", "8192"), action(tcpRmem, "", "4096 131072 67108864")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.Changed() != 2 || read(t, o, tcpRmem, "") != "4096 131072 67108864" {
		t.Fatalf("apply:\n%+v", res)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil || len(lines) != 4 {
		t.Fatalf("journal: %d lines, %v", len(lines), err)
	}
	for i, want := range []State{StatePending, StateDone, StatePending, StateDone} {
		if lines[i].State != want || lines[i].Apply != res.ID {
			t.Errorf("line %d: %+v", i, lines[i])
		}
	}
	if e := lines[1]; e.Old != "4096" || e.New != "8192" || e.Got != "8192" || e.Reason == "" || e.Time.IsZero() {
		t.Errorf("done entry %+v", e)
	}
	fi, err := os.Stat(o.StateDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, %v", fi.Mode(), err)
	}
	st, err := New(o).Status()
	if err != nil || len(st.Knobs) != 2 || st.Knobs[0].Knob != tcpRmem || st.Knobs[1].Original != "4096" {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestStepsCapsAndNeverLower(t *testing.T) {
	o := fixture(t)
	o.Config = policy.DefaultConfig()
	o.Config.Caps.Somaxconn = 6000
	res, err := New(o).DryRun([]policy.Action{
		action(backlog, "", "8000"),                 // ×8: one ×2 step only
		action(somaxconn, "", "8192"),               // above the cap
		action(tcpRmem, "", "4096 131072 16777216"), // lowers a field
		action(backlog, "", "2000"),                 // the same knob twice
		action("rps:eth0:rx-0", "", "3"),            // a CPU mask: neither more nor less
		action("sysctl:net.core.rmem_max", "", "1"), // missing from the fixture
		{Knob: "sysctl:net.ipv4.ipfrag_high_thresh", Proposed: "8388608", AtCap: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		d        Decision
		proposed string
		note     string
	}{
		{DecideChange, "2000", "one step per run"},
		{DecideChange, "6000", "config cap 6000"},
		{DecideAdvice, "", "lower"},
		{DecideAdvice, "", "one step per knob"},
		{DecideChange, "3", ""},
		{DecideAdvice, "", "cannot read"},
		{DecideAdvice, "", "cap"},
	}
	for i, w := range want {
		s := res.Steps[i]
		if s.Decision != w.d || (w.proposed != "" && s.Proposed != w.proposed) || !strings.Contains(s.Note, w.note) {
			t.Errorf("step %d: %+v", i, s)
		}
	}
}

func TestOwnershipAndDrift(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	o.ConfRoot = "testdata/conf"
	a := New(o)
	res, err := a.Apply([]policy.Action{action(backlog, "", "2000"), action(somaxconn, "", "8192")})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Steps[0]; s.Decision != DecideAdvice || !strings.Contains(s.Note, "90-admin.conf") {
		t.Errorf("pinned key: %+v", s)
	}
	if read(t, o, backlog, "") != "1000" {
		t.Fatal("a pinned sysctl was written")
	}

	// Someone else changes what nettune set: nettune leaves it alone from now on.
	if err := os.WriteFile(filepath.Join(o.Env.ProcRoot, "sys/net/core/somaxconn"), []byte("5000"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status()
	if err != nil || len(st.Knobs) != 1 || !st.Knobs[0].Drift || st.Knobs[0].Error != "" {
		t.Fatalf("status should show drift: %v %v", st, err)
	}
	res, err = a.Apply([]policy.Action{action(somaxconn, "", "10000")})
	if err != nil || res.Steps[0].Decision != DecideAdvice || !strings.Contains(res.Steps[0].Note, "someone else") {
		t.Fatalf("drifted knob: %v\n%+v", err, res)
	}
	res, err = a.Rollback("")
	if err != nil || res.Steps[0].Decision != DecideAdvice {
		t.Fatalf("rollback must leave a drifted knob alone: %v\n%+v", err, res)
	}
	if read(t, o, somaxconn, "") != "5000" {
		t.Fatal("drifted value was overwritten")
	}
}

func TestIRQBalanceMakesAffinityAdvice(t *testing.T) {
	o := fixture(t)
	comm := filepath.Join(o.Env.ProcRoot, "812")
	if err := os.MkdirAll(comm, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(comm, "comm"), []byte("irqbalance\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := New(o).DryRun([]policy.Action{action("irq-affinity:41", "", "1")})
	if err != nil || res.Steps[0].Decision != DecideAdvice || !strings.Contains(res.Steps[0].Note, "irqbalance") {
		t.Fatalf("%v\n%+v", err, res)
	}
}

func TestRollbackByID(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	a := New(o)
	first, err := a.Apply([]policy.Action{action(somaxconn, "", "8192"), action(backlog, "", "2000")})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Apply([]policy.Action{action(backlog, "", "4000")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Rollback(first.ID)
	if err != nil {
		t.Fatal(err)
	}
	// backlog was changed again by the second apply: rolling back the first alone leaves it.
	if read(t, o, somaxconn, "") != "4096" || read(t, o, backlog, "") != "4000" {
		t.Fatalf("rollback %s:\n%+v", first.ID, res)
	}
	if _, err := a.Rollback(second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Rollback(first.ID); err != nil {
		t.Fatal(err)
	}
	if read(t, o, backlog, "") != "1000" {
		t.Fatalf("backlog %s, want the oldest original 1000", read(t, o, backlog, ""))
	}
}

func TestConcurrentApplies(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, act := range []policy.Action{action(somaxconn, "", "8192"), action(backlog, "", "2000")} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = New(o).Apply([]policy.Action{act, action(tcpRmem, "", "4096 131072 67108864")})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	// Runs never interleave: each apply's lines are contiguous.
	seen := map[string]bool{}
	for i, e := range lines {
		if i > 0 && e.Apply != lines[i-1].Apply && seen[e.Apply] {
			t.Fatalf("apply %s interleaved in the journal", e.Apply)
		}
		seen[e.Apply] = true
	}
	if len(seen) != 2 {
		t.Fatalf("%d applies journaled", len(seen))
	}

	// While another run holds the lock, a run with a short timeout fails clearly.
	d, err := fsx.OpenDir(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := lockDir(d, time.Second); err != nil {
		t.Fatal(err)
	}
	o.LockTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err = New(o).Apply([]policy.Action{action(somaxconn, "", "16384")})
	if !errors.Is(err, ErrLocked) || time.Since(start) < o.LockTimeout {
		t.Fatalf("want ErrLocked after waiting, got %v", err)
	}
	if read(t, o, somaxconn, "") != "8192" {
		t.Fatal("a locked-out run changed a knob")
	}
}
