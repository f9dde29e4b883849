package apply

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/policy"
)

// TestPoolCapsRechecked: apply re-checks the caps of the pool sysctls field by field, tcp_mem
// included (its cap was once missing from apply's own copy of the caps, so a plan above
// caps.tcp_mem_max_pages passed unclamped).
func TestPoolCapsRechecked(t *testing.T) {
	o := fixture(t)
	for key, v := range map[string]string{"tcp_mem": "1000\t2000\t3000", "udp_mem": "1000\t2000\t3000"} {
		if err := os.WriteFile(filepath.Join(o.Env.ProcRoot, "sys/net/ipv4", key), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o.Config = policy.DefaultConfig()
	o.Config.Caps.TCPMemMaxPages, o.Config.Caps.UDPMemMaxPages = 4000, 5000
	res, err := New(o).DryRun([]policy.Action{
		action("sysctl:net.ipv4.tcp_mem", "", "2000 4000 6000"),
		action("sysctl:net.ipv4.udp_mem", "", "2000 4000 6000"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"2000 4000 4000", "2000 4000 5000"} {
		s := res.Steps[i]
		if s.Decision != DecideChange || s.Proposed != want || s.Command != `sysctl -w `+s.Knob[len("sysctl:"):]+`="`+want+`"` {
			t.Errorf("step %d: %+v (want %s, clamped by the config cap)", i, s, want)
		}
	}
}

// Issue 12, case 8: from a plan for one namespace, a host-wide knob is advice naming
// --allow-global unless it was given; either way the step says its scope.
func TestGlobalKnobsNeedAllowGlobal(t *testing.T) {
	plan := []policy.Action{action("sysctl:net.core.netdev_max_backlog", "", "2000")}
	for _, tc := range []struct {
		name        string
		netns       string
		allowGlobal bool
		want        Decision
	}{
		{"own namespace", "", false, DecideChange},
		{"--netns", "web", false, DecideAdvice},
		{"--netns --allow-global", "web", true, DecideChange},
	} {
		o := fixture(t)
		o.Netns, o.AllowGlobal = tc.netns, tc.allowGlobal
		res, err := New(o).DryRun(plan)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Steps[0]
		if s.Decision != tc.want || s.Scope != model.ScopeGlobal || s.Netns != "" {
			t.Errorf("%s: %+v", tc.name, s)
		}
		if tc.want == DecideAdvice && !strings.Contains(s.Note, "every network namespace of the host, not only web; pass --allow-global") {
			t.Errorf("%s: note %q", tc.name, s.Note)
		}
	}
}

// A reviewed plan (apply --plan, which refuses --netns) made for one namespace keeps the rule
// above: its namespaced actions name the namespace, and its global knobs stay advice without
// --allow-global.
func TestReviewedPlanOfANamespaceNeedsAllowGlobal(t *testing.T) {
	global := action("sysctl:net.core.netdev_max_backlog", "", "2000")
	global.Current = "1000"
	local := action("sysctl:net.ipv4.udp_rmem_min", "web", "8192")
	for _, tc := range []struct {
		name        string
		plan        []policy.Action
		allowGlobal bool
		want        Decision
	}{
		{"plan of the own namespace", []policy.Action{global}, false, DecideChange},
		{"plan of netns web", []policy.Action{local, global}, false, DecideAdvice},
		{"plan of netns web, --allow-global", []policy.Action{local, global}, true, DecideChange},
	} {
		o := fixture(t)
		o.AllowGlobal = tc.allowGlobal
		res, err := New(o).DryRunReviewed(tc.plan)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Steps[len(res.Steps)-1]
		if s.Decision != tc.want {
			t.Errorf("%s: %+v", tc.name, s)
		}
		if tc.want == DecideAdvice && !strings.Contains(s.Note, "not only web; pass --allow-global") {
			t.Errorf("%s: note %q", tc.name, s.Note)
		}
	}
}
