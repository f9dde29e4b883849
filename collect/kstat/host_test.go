package kstat

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// hostLinks lists the links in this machine's /sys/class/net.
func hostLinks(tb testing.TB) []string {
	tb.Helper()
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		tb.Skipf("no sysfs: %v", err)
	}
	var links []string
	for _, e := range ents {
		links = append(links, e.Name())
	}
	return links
}

// onlineCPUs counts the CPU columns of /proc/interrupts, which lists online CPUs like
// softnet_stat does.
func onlineCPUs(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/interrupts")
	if err != nil {
		t.Skipf("no /proc/interrupts: %v", err)
	}
	header, _, _ := strings.Cut(string(b), "\n")
	return len(strings.Fields(header))
}

func TestHostReaders(t *testing.T) {
	ncpu := onlineCPUs(t)

	softnet, err := ReadSoftnet("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(softnet) != ncpu {
		t.Errorf("softnet: %d rows, want %d", len(softnet), ncpu)
	}
	for i, r := range softnet {
		if i > 0 && r.CPU <= softnet[i-1].CPU {
			t.Errorf("softnet: CPU ids not increasing: %+v", softnet)
		}
	}

	snmp, err := ReadSNMP("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Udp.InDatagrams", "Udp.RcvbufErrors", "TcpExt.TCPBacklogDrop", "TcpExt.ListenOverflows", "IpExt.InNoRoutes"} {
		if _, ok := snmp[k]; !ok {
			t.Errorf("snmp: %s missing", k)
		}
	}
	if _, err := os.Stat("/proc/net/snmp6"); err == nil {
		if _, ok := snmp["Ip6.InReceives"]; !ok {
			t.Error("snmp: Ip6.InReceives missing")
		}
	}

	netRx, err := ReadSoftirqs("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(netRx) < ncpu {
		t.Errorf("softirqs: %d CPUs, want ≥ %d", len(netRx), ncpu)
	}

	links := hostLinks(t)
	irqs, err := ReadInterrupts("/proc", "/sys", links)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range irqs {
		if !slices.Contains(links, q.Link) || len(q.PerCPU) != ncpu || q.Affinity == "" {
			t.Errorf("interrupts: %+v", q)
		}
	}

	sysctls, err := ReadSysctls("/proc", DefaultSysctls)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"net.core.somaxconn", "net.ipv4.tcp_rmem"} {
		if sysctls[k] == "" {
			t.Errorf("sysctl %s missing", k)
		}
	}
	if v := sysctls["net.ipv4.tcp_rmem"]; len(strings.Fields(v)) != 3 || strings.ContainsAny(v, "\t\n") {
		t.Errorf("tcp_rmem %q not normalized", v)
	}

	nd := netDir(t, "/sys")
	for _, l := range links {
		qs, err := nd.RPS(l, 0, true)
		if err != nil {
			t.Fatalf("rps %s: %v", l, err)
		}
		for i, q := range qs {
			if q.Queue != i || q.RPSCPUs == "" {
				t.Errorf("rps %s: %+v", l, qs)
			}
		}
	}

	if _, err := IRQBalanceRunning("/proc"); err != nil {
		t.Fatal(err)
	}
}
