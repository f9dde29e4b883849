package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/internal/lab"
)

// TestApplyReviewedPlan: advise -o json measures accept-queue overflows in a lab namespace and
// writes the plan; apply --plan applies exactly that plan later, without load and without
// measuring (a measuring apply would find nothing to do), journaled like every apply; an
// action whose knob moved after the plan was made is refused, nothing is changed, and the
// plan applies again once the knob is back. Rollback undoes it.
func TestApplyReviewedPlan(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	l := newLoop(t, v.B)
	atLeast(t, nil, "net.core.netdev_max_backlog", 1000)
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow))
	app := startApp(t, v.B, v.BAddr, true)
	load := func(ctx context.Context) { storms(ctx, v, func() string { return app.addr }, stormSize, time.Minute) }

	var code int
	var out, stderr string
	during(load, func() {
		code, out, stderr = run(t, "advise", "--no-bpf", "--netns", v.B.Name, "--interval", "2s", "-o", "json")
	})
	var doc adviseDoc
	if code != ExitLoss || json.Unmarshal([]byte(out), &doc) != nil || !proposes(doc, doc.Findings[0].ID, "sysctl:net.core.somaxconn") {
		t.Fatalf("advise: exit %d, plan %+v\n%s", code, doc.Plan, stderr)
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	app.close()

	applyPlan := func(extra ...string) (int, apply.Result, string) {
		code, out, stderr := run(t, l.args("apply", append([]string{"--plan", planFile, "-o", "json"}, extra...)...)...)
		var res apply.Result
		if code != ExitUsage {
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("apply --plan: exit %d, output not JSON: %v\n%s%s", code, err, out, stderr)
			}
		}
		return code, res, stderr
	}
	somaxconn := func(res apply.Result) apply.Step {
		for _, s := range res.Steps {
			if s.Knob == "sysctl:net.core.somaxconn" {
				return s
			}
		}
		t.Fatalf("no somaxconn step: %+v", res.Steps)
		return apply.Step{}
	}
	proposed := ""
	for _, a := range doc.Plan {
		if a.Knob == "sysctl:net.core.somaxconn" {
			proposed = a.Proposed
		}
	}

	// The knob moved after the plan was made: refused, nothing changed.
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow+1))
	code, res, stderr := applyPlan()
	if s := somaxconn(res); code != ExitOK || s.Decision != apply.DecideAdvice || !strings.Contains(s.Note, "changed since the plan was made") {
		t.Fatalf("stale plan: exit %d, step %+v\n%s", code, s, stderr)
	}
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow+1) {
		t.Fatalf("somaxconn %s after a refused action", got)
	}

	// Back to what the plan saw: the dry run and the apply do exactly the plan's action.
	lab.SetSysctl(t, v.B, "net.core.somaxconn", strconv.Itoa(acceptLow))
	if code, res, stderr = applyPlan("--dry-run"); code != ExitOK || somaxconn(res).Decision != apply.DecideChange {
		t.Fatalf("dry run: exit %d %+v\n%s", code, res, stderr)
	}
	code, res, stderr = applyPlan()
	s := somaxconn(res)
	if code != ExitOK || s.Decision != apply.DecideChange || s.Got != proposed || s.Netns != v.B.Name || res.ID == "" {
		t.Fatalf("apply --plan: exit %d, step %+v (plan proposed %s)\n%s", code, s, proposed, stderr)
	}
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != proposed {
		t.Errorf("somaxconn in %s = %s, the plan proposed %s", v.B.Name, got, proposed)
	}

	// Measuring flags make no sense with a plan; a plan of another host is refused.
	if code, _, stderr := run(t, l.args("apply", "--plan", planFile, "--netns", v.B.Name)...); code != ExitUsage || !strings.Contains(stderr, "--netns") {
		t.Errorf("--plan with --netns: exit %d %s", code, stderr)
	}
	other := filepath.Join(t.TempDir(), "other.json")
	host, _ := os.Hostname()
	if err := os.WriteFile(other, []byte(strings.Replace(out, `"host": "`+host+`"`, `"host": "elsewhere"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, l.args("apply", "--plan", other)...); code != ExitUsage || !strings.Contains(stderr, `made on host "elsewhere"`) {
		t.Errorf("a plan of another host: exit %d %s", code, stderr)
	}

	l.rollback()
	if got := sysctl(t, v.B, "net.core.somaxconn"); got != strconv.Itoa(acceptLow) {
		t.Errorf("somaxconn after rollback = %s, want %d", got, acceptLow)
	}
}
