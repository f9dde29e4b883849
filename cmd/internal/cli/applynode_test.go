package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nettune/nettune/apply"
	"github.com/nettune/nettune/internal/lab"
)

// apply --dry-run with no --netns examines every namespace: an accept queue overflowing in
// one namespace gets its somaxconn proposed there, with the command that enters it, and the
// table names the namespace.
func TestApplyDryRunWholeNode(t *testing.T) {
	lab.RequireRoot(t)
	v := pair(t)
	stop := background(t, v, acceptAtSomaxconn)
	defer stop()
	args := []string{"apply", "--dry-run", "--interval", "2s", "--state-dir", t.TempDir()}
	code, out, stderr := run(t, append(args, "-o", "json")...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
	var res apply.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var s *apply.Step
	for i := range res.Steps {
		if res.Steps[i].Knob == "sysctl:net.core.somaxconn" && res.Steps[i].Netns == v.B.Name {
			s = &res.Steps[i]
		}
	}
	if s == nil {
		t.Fatalf("no somaxconn step in %s: %+v", v.B.Name, res.Steps)
	}
	if s.NetnsIno == 0 || !strings.HasPrefix(s.Command, "ip netns exec "+v.B.Name+" sysctl -w net.core.somaxconn=") {
		t.Errorf("step: %+v", s)
	}
	_, table, _ := run(t, args...)
	if !strings.HasPrefix(table, "dry run (nothing changed): ") || !strings.Contains(table, "sysctl:net.core.somaxconn [netns "+v.B.Name+"]") {
		t.Errorf("table:\n%s", table)
	}
}
