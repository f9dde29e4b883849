package apply

import (
	"os"
	"path/filepath"
	"testing"

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
