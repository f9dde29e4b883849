package apply

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/fsx"
	"github.com/nettune/nettune/knob/live"
	"github.com/nettune/nettune/policy"
)

// childEnv switches the test binary into a child that applies a plan and SIGKILLs itself at
// a chosen point, so crash safety is tested on a real process death.
const childEnv = "NETTUNE_APPLY_CHILD"

type childSpec struct {
	StateDir  string
	ProcRoot  string
	SysRoot   string
	ConfRoot  string
	Plan      []policy.Action
	Rollback  bool   // roll back everything instead of applying Plan
	Persist   bool   // apply --persist
	KillPoint string // a hook point (apply.go, journal.go): "journaled", "written", ...
	KillSeq   int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	testHook = func(point string, seq int) {
		if point == c.KillPoint && seq == c.KillSeq {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	o := Options{StateDir: c.StateDir, ConfRoot: c.ConfRoot, Env: live.Env{ProcRoot: c.ProcRoot, SysRoot: c.SysRoot},
		Persist: c.Persist}
	var err error
	if c.Rollback {
		_, err = New(o).Rollback("")
	} else {
		_, err = New(o).Apply(c.Plan)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// applyAndDie runs the plan (or the rollback) in a child that must die by SIGKILL.
func applyAndDie(t *testing.T, c childSpec) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	out, err := cmd.CombinedOutput()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed at %s %d: %v\n%s", c.KillPoint, c.KillSeq, err, out)
	}
}

// fixture copies the host tree (files from a 6.18 machine) and returns an environment and
// options with a fresh state dir and no admin pins.
func fixture(t testing.TB) Options {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "host"), os.DirFS("../testdata/host")); err != nil {
		t.Fatal(err)
	}
	return Options{
		StateDir: filepath.Join(dir, "state"),
		Env:      live.Env{ProcRoot: filepath.Join(dir, "host/proc"), SysRoot: filepath.Join(dir, "host/sys")},
		ConfRoot: filepath.Join(dir, "noconf"),
	}
}

// clock is a fake time source that tests advance.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func read(t testing.TB, o Options, id, ns string) string {
	t.Helper()
	k, err := live.Parse(id, ns, o.Env)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.Read()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readJournal is every entry of the journal in dir, checked as status checks it.
func readJournal(dir string) ([]Entry, error) {
	d, err := fsx.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return loadJournal(d)
}

func action(id, ns, proposed string) policy.Action {
	return policy.Action{Knob: id, Netns: ns, Proposed: proposed, Why: "test: raise " + id}
}
