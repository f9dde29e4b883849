package apply

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/policy"
)

// perNetns are sysctls every namespace has its own copy of, so a test netns can change them.
var perNetns = []string{"sysctl:net.core.somaxconn", "sysctl:net.ipv4.tcp_rmem", "sysctl:net.ipv4.ipfrag_high_thresh"}

// doubled proposes each value ×2 (the last field of a vector), within the default caps.
func doubled(t *testing.T, o Options, ns string) (plan []policy.Action, orig map[string]string) {
	orig = map[string]string{}
	for _, id := range perNetns {
		v := read(t, o, id, ns)
		orig[id] = v
		f := strings.Fields(v)
		n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		f[len(f)-1] = strconv.FormatInt(n*2, 10)
		plan = append(plan, action(id, ns, strings.Join(f, " ")))
	}
	return plan, orig
}

// crashPoints are the hook points of one change, in order, with whether the knob has been
// written when the process dies there. Every write and fsync of a change is one of them: the
// pending line is written ("appended pending") and fsynced ("journaled"), the knob written,
// the done line written and fsynced ("recorded"). A kill -9 keeps what reached the page cache,
// so dying between a write and its fsync tests the reader of a line whose fsync never
// returned.
var crashPoints = []struct {
	point   string
	written bool
}{
	{"appended pending", false}, {"journaled", false}, {"written", true}, {"appended done", true}, {"recorded", true},
}

// crashThenRollback kills a multi-change apply, and then a rollback, at every point of every
// change in turn and checks that a rollback afterwards restores every original value exactly.
func crashThenRollback(t *testing.T, setup func(t *testing.T) (Options, string)) {
	spec := func(o Options) childSpec {
		return childSpec{StateDir: o.StateDir, ProcRoot: o.Env.ProcRoot, SysRoot: o.Env.SysRoot, ConfRoot: o.ConfRoot}
	}
	restored := func(t *testing.T, o Options, ns string, orig map[string]string) {
		t.Helper()
		res, err := New(o).Rollback("")
		if err != nil {
			t.Fatalf("rollback: %v\n%+v", err, res)
		}
		for id, v := range orig {
			if got := read(t, o, id, ns); got != v {
				t.Errorf("%s: %q after rollback, original %q\n%+v", id, got, v, res)
			}
		}
		st, err := New(o).Status()
		if err != nil || len(st.Knobs) != 0 {
			t.Errorf("status after rollback: %v %v", st, err)
		}
	}
	changedKnobs := func(t *testing.T, o Options, ns string, orig map[string]string) int {
		n := 0
		for id, v := range orig {
			if read(t, o, id, ns) != v {
				n++
			}
		}
		return n
	}
	t.Run("apply-created", func(t *testing.T) {
		o, ns := setup(t)
		plan, orig := doubled(t, o, ns)
		c := spec(o)
		c.Plan, c.KillPoint = plan, "created"
		applyAndDie(t, c)
		if n := changedKnobs(t, o, ns, orig); n != 0 {
			t.Fatalf("died after creating the journal but %d knobs changed", n)
		}
		restored(t, o, ns, orig)
	})
	for seq := 1; seq <= len(perNetns); seq++ {
		for _, p := range crashPoints {
			t.Run(fmt.Sprintf("apply-%s-%d", p.point, seq), func(t *testing.T) {
				o, ns := setup(t)
				plan, orig := doubled(t, o, ns)
				c := spec(o)
				c.Plan, c.KillPoint, c.KillSeq = plan, p.point, seq
				applyAndDie(t, c)
				want := seq - 1
				if p.written {
					want = seq
				}
				if n := changedKnobs(t, o, ns, orig); n != want {
					t.Fatalf("child should have changed %d knobs before dying, changed %d", want, n)
				}
				restored(t, o, ns, orig)
			})
			t.Run(fmt.Sprintf("rollback-%s-%d", p.point, seq), func(t *testing.T) {
				o, ns := setup(t)
				plan, orig := doubled(t, o, ns)
				if _, err := New(o).Apply(plan); err != nil {
					t.Fatal(err)
				}
				c := spec(o)
				c.Rollback, c.KillPoint, c.KillSeq = true, p.point, seq
				applyAndDie(t, c)
				want := len(perNetns) - (seq - 1)
				if p.written {
					want--
				}
				if n := changedKnobs(t, o, ns, orig); n != want {
					t.Fatalf("%d knobs should still differ from the originals, %d do", want, n)
				}
				restored(t, o, ns, orig)
			})
		}
	}
	// A torn last line is cut under the lock; dying before the cut changes nothing.
	t.Run("rollback-cut", func(t *testing.T) {
		o, ns := setup(t)
		plan, orig := doubled(t, o, ns)
		if _, err := New(o).Apply(plan); err != nil {
			t.Fatal(err)
		}
		appendRaw(t, o, `{"apply":"20260301T120000Z-abcdef","seq":4,"op":"se`)
		c := spec(o)
		c.Rollback, c.KillPoint = true, "cut"
		applyAndDie(t, c)
		restored(t, o, ns, orig)
	})
	// A bad journal is moved aside, never rewritten: dying before the rename leaves it in
	// place byte for byte, and the next run moves it and still changes nothing.
	t.Run("apply-move-aside", func(t *testing.T) {
		o, ns := setup(t)
		plan, orig := doubled(t, o, ns)
		if _, err := New(o).Apply(plan); err != nil {
			t.Fatal(err)
		}
		bad := corruptLine(t, o, 2)
		c := spec(o)
		c.Plan, c.KillPoint = plan, "move-aside"
		applyAndDie(t, c)
		if b, _ := os.ReadFile(filepath.Join(o.StateDir, journalFile)); !bytes.Equal(b, bad) {
			t.Fatal("the journal changed before it was moved aside")
		}
		_, err := New(o).Apply(plan)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Line != 2 || ce.Moved == "" {
			t.Fatalf("apply over a corrupt journal: %v", err)
		}
		if b, _ := os.ReadFile(ce.Moved); !bytes.Equal(b, bad) {
			t.Fatal("the journal moved aside is not the journal as it was")
		}
		if n := changedKnobs(t, o, ns, orig); n != len(perNetns) {
			t.Fatalf("a run over a corrupt journal changed knobs: %d of %d still raised", n, len(perNetns))
		}
	})
}

func TestCrashSafetyFixture(t *testing.T) {
	lab.RequireRoot(t) // apply needs root even on a fixture tree
	crashThenRollback(t, func(t *testing.T) (Options, string) { return fixture(t), "" })
}

func TestCrashSafetyNetns(t *testing.T) {
	crashThenRollback(t, func(t *testing.T) (Options, string) {
		ns := lab.NewNS(t, "crash")
		return Options{StateDir: t.TempDir(), ConfRoot: t.TempDir()}, ns.Name
	})
}
