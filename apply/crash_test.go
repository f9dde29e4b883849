package apply

import (
	"fmt"
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

// crashThenRollback kills a multi-change apply after every step in turn and checks that
// rollback restores every original value exactly.
func crashThenRollback(t *testing.T, setup func(t *testing.T) (Options, string)) {
	for seq := 1; seq <= len(perNetns); seq++ {
		for _, point := range []string{"journaled", "written"} {
			t.Run(fmt.Sprintf("%s-%d", point, seq), func(t *testing.T) {
				o, ns := setup(t)
				plan, orig := doubled(t, o, ns)
				applyAndDie(t, childSpec{StateDir: o.StateDir, ProcRoot: o.Env.ProcRoot, SysRoot: o.Env.SysRoot,
					ConfRoot: o.ConfRoot, Plan: plan, KillPoint: point, KillSeq: seq})
				changed := 0
				for id, v := range orig {
					if read(t, o, id, ns) != v {
						changed++
					}
				}
				want := seq - 1
				if point == "written" {
					want = seq
				}
				if changed != want {
					t.Fatalf("child should have changed %d knobs before dying, changed %d", want, changed)
				}
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
			})
		}
	}
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
