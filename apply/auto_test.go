package apply

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
)

// fakeEngine reports persistent backlog loss whose rate follows the knob's current value
// (lossAt), and proposes current×2 without capping it: the applier must re-check the cap.
func fakeEngine(t testing.TB, o Options, lossAt func(v int64) float64) func(*model.Delta) *policy.Report {
	return func(*model.Delta) *policy.Report {
		v, _ := strconv.ParseInt(read(t, o, backlog, ""), 10, 64)
		f := policy.Finding{ID: "backlog/host/cpu0", Stage: stage.Backlog, Severity: policy.SeverityWarning,
			Class: stage.ClassCapacity, DropRate: lossAt(v)}
		return &policy.Report{Findings: []policy.Finding{f}, Plan: []policy.Action{{
			Knob: backlog, Current: strconv.FormatInt(v, 10), Proposed: strconv.FormatInt(2*v, 10),
			Findings: []string{f.ID}, Why: "backlog drops on cpu0",
		}}}
	}
}

// fake is the Analysis of a fake policy: the real diff, then engine.
func fake(engine func(*model.Delta) *policy.Report) Analysis {
	return func(prev, cur *model.Sample) (*pipeline.Result, error) {
		d, err := model.Diff(prev, cur)
		if err != nil {
			return nil, err
		}
		return &pipeline.Result{Delta: d, Report: engine(d)}, nil
	}
}

// why is every action's kind, knob and reason, one per line, for assertions and failures.
func why(r *AutoResult) string {
	var b strings.Builder
	for _, a := range r.Actions {
		fmt.Fprintf(&b, "%s %s: %s\n", a.Kind, a.Knob, a.Why)
	}
	return b.String()
}

type autoRig struct {
	t     *testing.T
	a     *Applier
	clock *clock
	n     int
}

func newAutoRig(t *testing.T, o Options) *autoRig {
	c := newClock()
	o.Now = c.Now
	o.Auto = AutoConfig{Hysteresis: 2, Cooldown: 2 * time.Minute, RevertBelow: 0.5}
	return &autoRig{t: t, a: New(o), clock: c}
}

// run is one timer tick: five minutes later, a new sample, one Auto run.
func (r *autoRig) run(engine func(*model.Delta) *policy.Report) *AutoResult {
	r.t.Helper()
	r.clock.Add(5 * time.Minute)
	r.n++
	res, err := r.a.Auto(&model.Sample{Time: r.clock.Now()}, fake(engine))
	if err != nil {
		r.t.Fatalf("run %d: %v\n%+v", r.n, err, res)
	}
	return res
}

func TestAutoClimbsStepByStepToTheCap(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	o.Config = policy.DefaultConfig()
	o.Config.Caps.NetdevMaxBacklog = 8000
	rig := newAutoRig(t, o)
	// Each doubling halves the loss, but it never goes away.
	engine := fakeEngine(t, o, func(v int64) float64 { return 1e6 / float64(v) })

	var values []string
	for range 8 {
		res := rig.run(engine)
		if res.Count("revert") != 0 || res.Count("failed") != 0 {
			t.Fatalf("run %d:\n%+v", rig.n, res)
		}
		values = append(values, read(t, o, backlog, ""))
	}
	// Run 1 saves the baseline, run 2 sees the finding once, runs 3–5 take one step each.
	want := "1000 1000 2000 4000 8000 8000 8000 8000"
	if got := strings.Join(values, " "); got != want {
		t.Fatalf("values per run %s, want %s", got, want)
	}
}

func TestAutoRevertsAChangeThatDidNotHelp(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	rig := newAutoRig(t, o)
	engine := fakeEngine(t, o, func(int64) float64 { return 500 }) // the knob does nothing

	rig.run(engine)
	rig.run(engine)
	if res := rig.run(engine); res.Count("change") != 1 || read(t, o, backlog, "") != "2000" {
		t.Fatalf("run 3 should raise the backlog:\n%+v", res)
	}
	res := rig.run(engine)
	if res.Count("revert") != 1 || read(t, o, backlog, "") != "1000" {
		t.Fatalf("run 4 should revert:\n%+v", res)
	}
	lines, err := readJournal(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	last := lines[len(lines)-1]
	if last.Op != OpRevert || last.State != StateDone || !strings.Contains(last.Reason, "did not fall by 50%") {
		t.Fatalf("journal's last entry %+v", last)
	}
	// The same value is not tried again while the loss persists.
	for range 3 {
		res := rig.run(engine)
		if res.Count("change") != 0 || !strings.Contains(why(res), "did not cut the loss") {
			t.Fatalf("run %d retried a value that did not help:\n%s", rig.n, why(res))
		}
	}
	if st, _ := rig.a.Status(); len(st.Knobs) != 0 {
		t.Fatalf("a reverted change is not in effect: %+v", st)
	}
}

// A change whose effect shows only after a settle time (reassembly memory held up to
// ipfrag_time) is not judged on the interval that starts right after it.
func TestAutoWaitsForTheSettleTime(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	rig := newAutoRig(t, o)
	// The first interval after the change still shows the old loss; later ones the new.
	changedAt := 0
	inner := fakeEngine(t, o, func(v int64) float64 {
		if v == 1000 || rig.n == changedAt+1 {
			return 500
		}
		return 100
	})
	engine := func(d *model.Delta) *policy.Report {
		rep := inner(d)
		// The interval right after the change starts inside this, the next one after it.
		rep.Plan[0].SettleSeconds = int((4 * time.Minute).Seconds())
		return rep
	}
	rig.run(engine)
	rig.run(engine)
	if res := rig.run(engine); res.Count("change") != 1 {
		t.Fatalf("run 3 should raise the backlog:\n%+v", res)
	}
	changedAt = rig.n
	if res := rig.run(engine); res.Count("revert") != 0 || res.Count("kept") != 0 || read(t, o, backlog, "") != "2000" {
		t.Fatalf("run 4 judged a change still settling:\n%+v", res)
	}
	if res := rig.run(engine); res.Count("kept") != 1 || res.Count("revert") != 0 {
		t.Fatalf("run 5 should keep the change:\n%+v", res)
	}
}

// Without a cooldown the run that reverts a knob must not touch it again, and must not
// mistake its own revert for someone else's change.
func TestAutoRevertIsTheKnobsOnlyChangeThatRun(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	rig := newAutoRig(t, o)
	rig.a.o.Auto.Cooldown = 0
	engine := fakeEngine(t, o, func(int64) float64 { return 500 })
	rig.run(engine)
	rig.run(engine)
	rig.run(engine) // raises
	res := rig.run(engine)
	if res.Count("revert") != 1 || res.Count("change") != 0 || read(t, o, backlog, "") != "1000" {
		t.Fatalf("run 4 should only revert:\n%+v", res)
	}
	if out := why(res); strings.Contains(out, "someone else") || !strings.Contains(out, "reverted in this run") {
		t.Fatalf("run 4 misread its own revert:\n%s", out)
	}
}

func TestAutoCooldown(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	rig := newAutoRig(t, o)
	rig.a.o.Auto.Cooldown = 12 * time.Minute
	engine := fakeEngine(t, o, func(v int64) float64 { return 1e6 / float64(v) })
	var got []string
	for range 6 {
		rig.run(engine)
		got = append(got, read(t, o, backlog, ""))
	}
	// A step at run 3; run 4 judges it (kept) but the knob is cooling down until run 6.
	if want := "1000 1000 2000 2000 2000 4000"; strings.Join(got, " ") != want {
		t.Fatalf("values %s, want %s", strings.Join(got, " "), want)
	}
}

// BenchmarkAuto is one auto run on a host with 1000 interfaces (the previous sample is
// decoded and the new one encoded each run; the engine is a fake).
func BenchmarkAuto(b *testing.B) {
	lab.RequireRoot(b)
	o := fixture(b)
	c := newClock()
	o.Now = c.Now
	a := New(o)
	engine := fake(func(*model.Delta) *policy.Report { return &policy.Report{} })
	s := syntheticSample(1000)
	if _, err := a.Auto(s, engine); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.Add(time.Minute)
		s.Time = c.Now()
		if _, err := a.Auto(s, engine); err != nil {
			b.Fatal(err)
		}
	}
}

func syntheticSample(links int) *model.Sample {
	s := &model.Sample{NCPU: 64, Sysctls: map[string]string{"net.core.netdev_max_backlog": "1000"},
		SNMP: map[string]uint64{"Udp.RcvbufErrors": 1, "Udp.InDatagrams": 1000}}
	for i := range links {
		l := model.Link{Name: fmt.Sprintf("veth%04d", i), Index: i + 2, Kind: "veth", OperUp: true, MTU: 1500,
			TxQueueLen: 1000, NumRxQ: 4, NumTxQ: 4,
			Stats:  model.LinkStats{RxPackets: uint64(i) * 1000, TxPackets: uint64(i) * 900},
			Qdiscs: []model.Qdisc{{Kind: "noqueue", Parent: "root", Root: true}}}
		for q := range 4 {
			l.Counters = append(l.Counters, model.Counter{Name: fmt.Sprintf("rx_queue_%d_drops", q),
				Stage: stage.RxRing, Kind: model.KindDrops, Dir: model.Rx, Queue: q})
			l.RxQueues = append(l.RxQueues, model.RxQueue{Queue: q, RPSCPUs: "0"})
		}
		s.Links = append(s.Links, l)
	}
	return s
}
