package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

func backlogDelta(maxBacklog string) *model.Delta {
	return newDelta().sysctl("net.core.netdev_max_backlog", maxBacklog).
		softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 5000 }).build()
}

func TestStepAndCaps(t *testing.T) {
	step4 := DefaultConfig()
	step4.Step = 4
	for _, tc := range []struct {
		name, current string
		cfg           Config
		proposed      string
		atCap         bool
	}{
		{"step ×2", "1000", DefaultConfig(), "2000", false},
		{"step from config", "1000", step4, "4000", false},
		{"stops at the cap", "8000", DefaultConfig(), "10000", false},
		{"at the cap", "10000", DefaultConfig(), "10000", true},
		{"never lower than current", "20000", DefaultConfig(), "20000", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Analyze(backlogDelta(tc.current), tc.cfg)
			checkInvariants(t, r)
			a := action(r, "sysctl:net.core.netdev_max_backlog")
			if a == nil || a.Proposed != tc.proposed || a.AtCap != tc.atCap || a.Current != tc.current {
				t.Fatalf("action %+v", a)
			}
			if tc.atCap != (a.Command == "") || (tc.atCap && !hasAdvice(r, "already at its cap")) {
				t.Errorf("command %q advice %v", a.Command, r.Advice)
			}
		})
	}
}

func TestKnobDisallowed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Knobs = map[string]bool{"sysctl:net.core.rmem": false, "sysctl:net.core.rmem_default": true}
	d := newDelta().snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000}).build()
	r := Analyze(d, cfg)
	checkInvariants(t, r)
	if got := knobs(r); len(got) != 1 || got[0] != "sysctl:net.core.rmem_default" {
		t.Fatalf("plan %v", got)
	}
	if !hasAdvice(r, "sysctl:net.core.rmem_max would address") {
		t.Errorf("advice %v", r.Advice)
	}
	if f := find(r, stage.UDPRcvbuf); len(f.Knobs) != 2 {
		t.Errorf("finding knobs %v", f.Knobs)
	}
}

// everything at once: the plan follows docs/rules.md §4.
func TestPlanOrder(t *testing.T) {
	d := newDelta().
		link("veth1", veth, stats(func(s *model.LinkStats) { s.RxDropped = 4000 }),
			qdisc(model.Qdisc{Kind: "pfifo_fast", Root: true, Packets: 90000, Drops: 10000})).
		link("eth0", ring(512, 4096), counter("rx_no_dma_resources", stage.RxRing, model.KindDrops, model.Rx, -1, 5000)).
		softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped, c.TimeSqueeze = 50000, 4000, 300 }).
		netRx(10000, 10).
		snmp(map[string]uint64{
			"Ip.ReasmReqds": 10000, "Ip.ReasmFails": 1000,
			"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000, "Udp.MemErrors": 5000,
			"Tcp.InSegs": 100000, "TcpExt.TCPRcvQDrop": 2000, "TcpExt.TCPMemoryPressures": 1,
			"Tcp.PassiveOpens": 1000, "TcpExt.ListenOverflows": 500,
		}).build()
	r := Analyze(d, DefaultConfig())
	checkInvariants(t, r)
	want := []string{
		"rps:eth0:rx-0", "rps:veth1:rx-0",
		"sysctl:net.core.netdev_budget", "sysctl:net.core.netdev_budget_usecs",
		"ethtool-ring:eth0:rx",
		"sysctl:net.core.netdev_max_backlog",
		"sysctl:net.ipv4.ipfrag_high_thresh",
		"sysctl:net.core.somaxconn", "sysctl:net.ipv4.tcp_rmem", "sysctl:net.core.rmem_default",
		"sysctl:net.core.rmem_max", "sysctl:net.ipv4.udp_mem", "sysctl:net.ipv4.tcp_mem",
		"txqueuelen:veth1",
	}
	if got := knobs(r); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan\n got %v\nwant %v", got, want)
	}
}

func TestNetnsCommands(t *testing.T) {
	accept := map[string]uint64{"Tcp.PassiveOpens": 1000, "TcpExt.ListenOverflows": 500}
	t.Run("named netns", func(t *testing.T) {
		r := Analyze(newDelta().netns("blue").snmp(accept).build(), DefaultConfig())
		checkInvariants(t, r)
		a := r.Plan[0]
		if a.Command != "ip netns exec blue sysctl -w net.core.somaxconn=8192" || a.Scope != model.ScopeNetns || a.Netns != "blue" {
			t.Errorf("action %+v", a)
		}
		if f := r.Findings[0]; f.ID != "tcp-accept-queue/blue" || f.Netns != "blue" {
			t.Errorf("finding %+v", f)
		}
	})
	t.Run("netns path", func(t *testing.T) {
		r := Analyze(newDelta().netns("/proc/42/ns/net").snmp(accept).build(), DefaultConfig())
		if a := r.Plan[0]; a.Command != "nsenter --net=/proc/42/ns/net sysctl -w net.core.somaxconn=8192" {
			t.Errorf("action %+v", a)
		}
	})
	backlog := func() *model.Delta {
		return newDelta().netns("blue").softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 5000 }).build()
	}
	t.Run("global knob from a child netns", func(t *testing.T) {
		r := Analyze(backlog(), DefaultConfig())
		checkInvariants(t, r)
		a := r.Plan[0]
		if a.Current != "unknown" || a.Proposed != "" || a.Command != "" || a.Scope != model.ScopeGlobal || a.Netns != "" {
			t.Errorf("action %+v", a)
		}
		if len(r.Missing) == 0 || !strings.Contains(r.Missing[0], "not visible from netns blue") {
			t.Errorf("missing %v", r.Missing)
		}
	})
	t.Run("global knob with host sysctls", func(t *testing.T) {
		r := AnalyzeWith(backlog(), Settings{HostSysctls: map[string]string{"net.core.netdev_max_backlog": "1000"}}, DefaultConfig())
		a := r.Plan[0]
		if a.Current != "1000" || a.Command != "sysctl -w net.core.netdev_max_backlog=2000" || a.Netns != "" {
			t.Errorf("action %+v", a)
		}
	})
	t.Run("read-only rmem_max is read in the child", func(t *testing.T) {
		r := Analyze(newDelta().netns("blue").snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000}).build(), DefaultConfig())
		if a := action(r, "sysctl:net.core.rmem_max"); a.Current != "4194304" || a.Command != "sysctl -w net.core.rmem_max=8388608" || a.Scope != model.ScopeGlobal {
			t.Errorf("action %+v", a)
		}
	})
	t.Run("device knob in a netns", func(t *testing.T) {
		d := newDelta().netns("blue").link("veth1", veth, stats(func(s *model.LinkStats) { s.RxDropped = 4000 })).
			softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 4000 }).netRx(10000, 10).build()
		r := Analyze(d, DefaultConfig())
		if a := action(r, "rps:veth1:rx-0"); a == nil || a.Command != "ip netns exec blue sh -c 'echo 2 > /sys/class/net/veth1/queues/rx-0/rps_cpus'" {
			t.Errorf("action %+v", a)
		}
	})
}

func TestSortingAndStableIDs(t *testing.T) {
	d := newDelta().
		snmp(map[string]uint64{"Udp.InDatagrams": 99000, "Udp.RcvbufErrors": 500, "Udp.NoPorts": 20, // info 0.5 % … warning
												"Tcp.PassiveOpens": 1000, "TcpExt.ListenOverflows": 500}). // critical
		softnet(0, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 1e6, 200 }). // info
		softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 1e5, 300 }).build()
	r1, r2 := Analyze(d, DefaultConfig()), Analyze(d, DefaultConfig())
	checkInvariants(t, r1)
	var ids1, ids2 []string
	for i := range r1.Findings {
		ids1, ids2 = append(ids1, r1.Findings[i].ID), append(ids2, r2.Findings[i].ID)
	}
	want := []string{"tcp-accept-queue/host", "udp-rcvbuf/host", "backlog/host/cpu1", "backlog/host/cpu0", "no-listener/host"}
	if fmt.Sprint(ids1) != fmt.Sprint(want) || fmt.Sprint(ids1) != fmt.Sprint(ids2) {
		t.Fatalf("order %v / %v, want %v", ids1, ids2, want)
	}
}

func TestCPUMask(t *testing.T) {
	for _, tc := range []struct {
		cpus []int
		want string
	}{{[]int{1}, "2"}, {[]int{0, 1, 2, 3}, "f"}, {[]int{1, 33}, "2,00000002"}} {
		if got := cpuMask(tc.cpus); got != tc.want {
			t.Errorf("cpuMask(%v) = %q, want %q", tc.cpus, got, tc.want)
		}
	}
	for s, want := range map[string]bool{"0": true, "00000000,00000000": true, "": true, "2": false, "00000000,00000001": false} {
		if zeroMask(s) != want {
			t.Errorf("zeroMask(%q) != %v", s, want)
		}
	}
}
