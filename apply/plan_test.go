package apply

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// adviseGolden is advise's JSON as render writes it (host node-1, one action): the plan
// format is the advise document, so the reader is tested on the writer's own output.
const adviseGolden = "../render/testdata/commands/advise_loss.json"

func goldenPlan(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(adviseGolden)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes the golden document, lets fn change it, and encodes it again.
func edit(t *testing.T, fn func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(goldenPlan(t), &doc); err != nil {
		t.Fatal(err)
	}
	fn(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePlan(t *testing.T) {
	p, err := parsePlan(goldenPlan(t), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if plan := p.Actions; p.Schema != AdviseSchema || len(plan) != 1 || plan[0].Knob != "sysctl:net.core.rmem_default" || plan[0].Current != "212992" || plan[0].Proposed != "425984" {
		t.Fatalf("plan %+v", plan)
	}
	action := func(doc map[string]any) map[string]any { return doc["plan"].([]any)[0].(map[string]any) }
	golden := string(goldenPlan(t))
	for name, tc := range map[string]struct {
		doc  []byte
		host string
		why  string
	}{
		"another host":  {goldenPlan(t), "node-2", `made on host "node-1", this is "node-2"`},
		"unknown host":  {goldenPlan(t), "", "made on host"},
		"other schema":  {edit(t, func(d map[string]any) { d["schema"] = "nettune.advise/v1" }), "node-1", "this nettune reads nettune.advise/v2"},
		"no schema":     {edit(t, func(d map[string]any) { delete(d, "schema") }), "node-1", `no "schema"`},
		"no plan":       {edit(t, func(d map[string]any) { delete(d, "plan") }), "node-1", `no "plan"`},
		"plan not list": {edit(t, func(d map[string]any) { d["plan"] = map[string]any{} }), "node-1", "plan:"},
		"not an object": {[]byte(`[` + golden + `]`), "node-1", "not a JSON object"},
		"two objects":   {[]byte(golden + golden), "node-1", "data after the JSON object"},
		"duplicate key": {[]byte(strings.Replace(golden, `"schema"`, `"host": "node-1", "schema"`, 1)), "node-1", `key "host" twice`},
		"duplicate key in an action": {[]byte(strings.Replace(golden, `"knob": "sysctl:net.core.rmem_default"`,
			`"knob": "sysctl:net.core.rmem_default", "knob": "sysctl:net.core.somaxconn"`, 1)), "node-1", `key "knob" twice`},
		"unknown action field": {edit(t, func(d map[string]any) { action(d)["exec"] = "reboot" }), "node-1", `unknown field "exec"`},
		"unknown knob":         {edit(t, func(d map[string]any) { action(d)["knob"] = "sysctl:kernel.core_pattern" }), "node-1", "unknown knob"},
		"bad knob id":          {edit(t, func(d map[string]any) { action(d)["knob"] = "sysctl:../../etc" }), "node-1", "unknown knob"},
		"scope lies":           {edit(t, func(d map[string]any) { action(d)["scope"] = "netns" }), "node-1", `scope "netns"`},
		"not disruptive":       {edit(t, func(d map[string]any) { action(d)["knob"], action(d)["scope"] = "ethtool-ring:eth0:rx", "device" }), "node-1", "disruptive false"},
		"bad netns":            {edit(t, func(d map[string]any) { action(d)["netns"] = "../x" }), "node-1", "clean absolute path"},
		"huge field":           {edit(t, func(d map[string]any) { action(d)["why"] = strings.Repeat("x", 5000) }), "node-1", "longer than 4096"},
		"too many actions": {edit(t, func(d map[string]any) {
			d["plan"] = make([]any, MaxPlanActions+1)
		}), "node-1", "more than 1024"},
		"too large": {append(goldenPlan(t), bytes.Repeat([]byte(" "), MaxPlanBytes)...), "node-1", "larger than"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parsePlan(tc.doc, tc.host)
			if !errors.Is(err, ErrPlan) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want ErrPlan saying %q", err, tc.why)
			}
		})
	}
}

// FuzzParsePlan: any input either is refused as a plan or yields actions that each name a
// knob of the table with its table scope.
func FuzzParsePlan(f *testing.F) {
	f.Add(goldenPlan(f))
	f.Add([]byte(`{"schema":"nettune.advise/v2","host":"node-1","plan":[{"knob":"rps:eth0:rx-0","current":"0","proposed":"3","scope":"device","disruptive":false,"findings":[],"why":"","risk":"","command":""}]}`))
	f.Add([]byte(`{"schema":"nettune.advise/v2","host":"node-1","plan":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePlan(b, "node-1")
		if err != nil {
			if !errors.Is(err, ErrPlan) {
				t.Fatalf("error not ErrPlan: %v", err)
			}
			return
		}
		checkParsed(t, p)
	})
}

// checkParsed: what parsePlan accepted holds what it promises: actions that each name a knob
// of the table with its table scope and a valid namespace, within the bounds.
func checkParsed(t *testing.T, p *Plan) {
	t.Helper()
	if len(p.Actions) > MaxPlanActions || len(p.Namespaces) > MaxPlanNamespaces ||
		(p.Schema == AdviseSchema) == (p.Namespaces != nil) || (p.Schema == NodeSchema) == (p.Actions != nil) {
		t.Fatalf("%s: %d actions, %d namespaces", p.Schema, len(p.Actions), len(p.Namespaces))
	}
	inodes, own := map[uint64]bool{}, 0
	for _, ns := range p.Namespaces {
		if ns.Inode == 0 || inodes[ns.Inode] || len(ns.Actions) > MaxPlanActions || ns.Owner.validate() != nil ||
			(ns.Own && (ns.Ref != "" || ns.Owner != nil)) || (!ns.Own && validNetns(ns.Ref) != nil) {
			t.Fatalf("accepted namespace %+v", ns)
		}
		inodes[ns.Inode] = true
		if ns.Own {
			own++
		}
		for _, a := range ns.Actions {
			if (a.Scope == model.ScopeGlobal || ns.Own) != (a.Netns == "") {
				t.Fatalf("accepted %+v in %+v", a, ns)
			}
		}
	}
	if own > 1 {
		t.Fatalf("%d own namespaces", own)
	}
	for _, a := range p.All() {
		id, err := knob.Parse(a.Knob)
		if err != nil {
			t.Fatal(err)
		}
		if row, ok := knob.Lookup(id); !ok || row.Scope != a.Scope || validNetns(a.Netns) != nil {
			t.Fatalf("accepted %+v", a)
		}
	}
}

// TestApplyReviewed: a reviewed plan applies exactly its actions while their knobs hold what
// the plan saw; an action whose knob changed since, or whose values are not the knob's, is
// refused with a message, and the others still apply.
func TestApplyReviewed(t *testing.T) {
	lab.RequireRoot(t)
	o := fixture(t)
	plan := []policy.Action{
		{Knob: somaxconn, Current: "4096", Proposed: "8192", Why: "reviewed"},
		{Knob: backlog, Current: "999", Proposed: "2000", Why: "stale"},                   // the fixture has 1000
		{Knob: tcpRmem, Current: "unknown", Proposed: "", Why: "unreadable when planned"}, // as policy writes it
		{Knob: rps0, Current: "0", Proposed: "3;reboot", Why: "tampered"},
	}
	dry, err := New(o).DryRunReviewed(plan)
	if err != nil {
		t.Fatal(err)
	}
	res, err := New(o).ApplyReviewed(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{dry, res} {
		want := []struct {
			d    Decision
			note string
		}{{DecideChange, ""}, {DecideAdvice, "the plan saw 999, it is 1000 now"},
			{DecideAdvice, `the plan's current value "unknown" is not one of this knob`},
			{DecideAdvice, "the plan's proposed value is not one of this knob"}}
		for i, w := range want {
			if s := r.Steps[i]; s.Decision != w.d || !strings.Contains(s.Note, w.note) {
				t.Errorf("dry run %v, step %d: %s %q, want %s %q", r.DryRun, i, s.Decision, s.Note, w.d, w.note)
			}
		}
	}
	if read(t, o, somaxconn, "") != "8192" || read(t, o, backlog, "") != "1000" || read(t, o, rps0, "") != "0" {
		t.Error("the knobs are not what the plan's valid actions alone make them")
	}
	lines, _ := readJournal(o.StateDir)
	if len(lines) != 2 || lines[0].Knob != somaxconn {
		t.Errorf("journal: %+v", lines)
	}
}

// TestReadPlanHost: the host a plan must come from is this host's name, read where the
// collector reads it.
func TestReadPlanHost(t *testing.T) {
	o := fixture(t)
	write(t, filepath.Join(o.Env.ProcRoot, "sys/kernel/hostname"), "node-1\n")
	if plan, err := New(o).ReadPlan(bytes.NewReader(goldenPlan(t))); err != nil || len(plan.Actions) != 1 {
		t.Fatalf("%v %v", plan, err)
	}
	write(t, filepath.Join(o.Env.ProcRoot, "sys/kernel/hostname"), "node-2\n")
	if _, err := New(o).ReadPlan(bytes.NewReader(goldenPlan(t))); !errors.Is(err, ErrPlan) {
		t.Fatalf("a plan of node-1 on node-2: %v", err)
	}
}
