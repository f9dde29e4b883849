package collect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/collect/netdev"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/internal/nldump"
)

// TestSampleOfNamespace checks that a sample taken for --netns shows that namespace's view:
// its links (with RPS settings from its own sysfs), its SNMP counters and per-netns sysctls,
// plus the host's global sysctls that a child namespace does not have.
func TestSampleOfNamespace(t *testing.T) {
	a, b := lab.NewNS(t, "colA"), lab.NewNS(t, "colB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Queues: 2})
	lab.SetSysctl(t, b, "net.core.somaxconn", "777")
	lab.SetRPS(t, b, v.BName, 1, "1")
	lab.ManyVeths(t, b, 1, false)                                      // default queue counts: veth allocates more RX queues than sysfs shows
	sink := lab.UDPSink(t, b, v.BAddr+":0", lab.SinkOpts{Read: false}) // overflows: a dropping socket
	if _, err := lab.UDPFlood(context.Background(), a, sink.Addr(), lab.FloodOpts{Packets: 5000, Size: 512}); err != nil {
		t.Fatal(err)
	}

	c := New(Options{Netns: b.Name})
	defer c.Close()
	s, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Links) != 4 { // lo, the veth end and a default veth pair
		t.Fatalf("links %+v", s.Links)
	}
	var found bool
	for _, l := range s.Links {
		if l.Name == v.AName {
			t.Errorf("the peer in the other namespace is visible: %s", l.Name)
		}
		if l.Name != v.BName {
			continue
		}
		found = true
		if l.Driver != "veth" || len(l.RxQueues) != 2 || l.RxQueues[1].RPSCPUs == "" || strings.Trim(l.RxQueues[1].RPSCPUs, "0,") != "1" {
			t.Errorf("veth %s: driver %q rx queues %+v", l.Name, l.Driver, l.RxQueues)
		}
	}
	if !found {
		t.Fatalf("veth %s missing", v.BName)
	}
	if s.Sysctls["net.core.somaxconn"] != "777" {
		t.Errorf("somaxconn = %q, want the namespace's 777", s.Sysctls["net.core.somaxconn"])
	}
	if s.Sysctls["net.core.netdev_max_backlog"] == "" {
		t.Error("global netdev_max_backlog (read from the host) missing")
	}
	if _, ok := s.SNMP["Udp.InDatagrams"]; !ok || len(s.Softnet) == 0 || len(s.NetRx) == 0 {
		t.Errorf("snmp %d keys, softnet %d rows, net_rx %d", len(s.SNMP), len(s.Softnet), len(s.NetRx))
	}
	if len(s.UDPSockets) == 0 || s.UDPSockets[0].Drops == 0 || s.UDPSockets[0].RcvBuf == 0 {
		t.Errorf("the overflowing sink is not among the UDP sockets: %+v", s.UDPSockets)
	}
	if _, err := os.Stat("/proc/net/stat/nf_conntrack"); err == nil {
		if _, ok := s.Conntrack["drop"]; !ok {
			t.Errorf("the kernel has conntrack but the sample has no conntrack counters: %v", s.Conntrack)
		}
	}
	if len(s.Errors) != 0 {
		t.Errorf("errors: %v", s.Errors)
	}
}

// A long-lived collector re-reads settings only every SettingsEvery; counters always.
func TestSettingsEvery(t *testing.T) {
	ns := lab.NewNS(t, "colS")
	lab.SetSysctl(t, ns, "net.core.somaxconn", "100")
	for _, tc := range []struct {
		every time.Duration
		want  string
	}{{0, "200"}, {time.Hour, "100"}} {
		c := New(Options{Netns: ns.Name, SettingsEvery: tc.every})
		s1, err := c.Sample()
		if err != nil {
			t.Fatal(err)
		}
		lab.SetSysctl(t, ns, "net.core.somaxconn", "200")
		s2, err := c.Sample()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := s2.Sysctls["net.core.somaxconn"]; got != tc.want || s1.Sysctls["net.core.somaxconn"] != "100" {
			t.Errorf("every %s: somaxconn %s then %s, want 100 then %s", tc.every, s1.Sysctls["net.core.somaxconn"], got, tc.want)
		}
		if !s2.Time.After(s1.Time) || len(s2.Links) == 0 {
			t.Errorf("every %s: counters not re-read", tc.every)
		}
		lab.SetSysctl(t, ns, "net.core.somaxconn", "100")
	}
}

func TestSampleUnknownInputs(t *testing.T) {
	lab.RequireRoot(t)
	if _, err := New(Options{Netns: "nettune-no-such-ns"}).Sample(); !errors.Is(err, netns.ErrNotFound) {
		t.Errorf("unknown netns: %v", err)
	}
	ns := lab.NewNS(t, "colU")
	if _, err := New(Options{Netns: ns.Name, Links: []string{"nosuch0"}}).Sample(); !errors.Is(err, netdev.ErrNoLink) {
		t.Errorf("unknown link: %v", err)
	}
}

// TestSampleUnreadableRoot: a /proc or /sys root that is missing, not a directory or not
// readable fails the sample; its readers would all fail and it would read as a healthy host.
func TestSampleUnreadableRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{ProcRoot: "/nonexistent"},
		{SysRoot: "/nonexistent"},
		{ProcRoot: file},
	} {
		if _, err := New(o).Sample(); !errors.Is(err, ErrRoot) {
			t.Errorf("%+v: %v, want ErrRoot", o, err)
		}
	}
}

// BenchmarkSample1000 is a whole snapshot (links, ethtool, qdiscs, RPS, SNMP, softnet,
// sysctls, interrupts) of a namespace with 1 000 veth interfaces.
func BenchmarkSample1000(b *testing.B) {
	ns := lab.NewNS(b, "colBench")
	lab.ManyVeths(b, ns, 500, false)
	c := New(Options{Netns: ns.Name})
	defer c.Close()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		s, err := c.Sample()
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Links) < 1000 {
			b.Fatalf("%d links", len(s.Links))
		}
	}
	// CPU time is steadier than wall time on a shared 2-core machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSampleRSS1000 reports the peak RSS of a process that takes one snapshot of 1 000
// interfaces (budget: 40 MiB). It re-runs this binary as a child so the number is that
// process's alone, not the benchmark harness's.
func BenchmarkSampleRSS1000(b *testing.B) {
	if ns := os.Getenv("COLLECT_RSS_CHILD"); ns != "" {
		s, err := New(Options{Netns: ns}).Sample()
		if err != nil || len(s.Links) < 1000 {
			b.Fatalf("sample: %v", err)
		}
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Printf("maxrss_kib=%d\n", ru.Maxrss)
		os.Exit(0)
	}
	ns := lab.NewNS(b, "colRSS")
	lab.ManyVeths(b, ns, 500, false)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	var kib int
	for b.Loop() {
		cmd := exec.Command(self, "-test.run", "^$", "-test.bench", "^BenchmarkSampleRSS1000$", "-test.benchtime", "1x")
		cmd.Env = append(os.Environ(), "COLLECT_RSS_CHILD="+ns.Name)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		_, after, ok := strings.Cut(string(out), "maxrss_kib=")
		if !ok {
			b.Fatalf("no maxrss in %s", out)
		}
		if kib, err = strconv.Atoi(strings.Fields(after)[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(kib)/1024, "MiB-peak-rss")
}

// TestSampleReadsFirewall: the sample of a namespace carries its nftables ruleset, read in
// that namespace, and a DROP rule's counter moves with the packets it drops.
func TestSampleReadsFirewall(t *testing.T) {
	a, b := lab.NewNS(t, "fwA"), lab.NewNS(t, "fwB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{})
	lab.DropUDP(t, b, lab.FirewallOpts{Port: 9000, Counter: true})
	c := New(Options{Netns: b.Name})
	defer c.Close()
	first, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.UDPFlood(context.Background(), a, v.BAddr+":9000", lab.FloodOpts{Packets: 300, Size: 64}); err != nil {
		t.Fatal(err)
	}
	second, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	fw := second.Firewall
	if fw == nil || len(fw.Chains) != 1 || fw.Chains[0].Hook != "input" || len(fw.Rules) != 1 || fw.Unreadable != "" {
		t.Fatalf("firewall %+v", fw)
	}
	r := fw.Rules[0]
	if r.Family != "inet" || r.Table != "nettune_lab" || r.Expr != "udp dport 9000 counter drop" || !r.Drop || !r.Counter ||
		r.Packets-first.Firewall.Rules[0].Packets != 300 {
		t.Errorf("rule %+v (before %+v)", r, first.Firewall.Rules[0])
	}
	// the host's ruleset is another namespace's: the lab's table is not in it
	host := New(Options{})
	defer host.Close()
	hs, err := host.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if hs.Firewall == nil {
		return
	}
	for _, x := range hs.Firewall.Rules {
		if x.Table == "nettune_lab" {
			t.Errorf("the namespace's rule shows in the host's ruleset: %+v", x)
		}
	}
}

// A long-lived collector keeps its UDP socket list while no UDP drop counter moves, as a
// node's namespaces do: a receive buffer changed since shows at the next drop. One that
// samples twice (SettingsEvery 0) reads the list at once.
func TestLongLivedCollectorKeepsSocketLists(t *testing.T) {
	ns := lab.NewNS(t, "colK")
	for _, tc := range []struct {
		every  time.Duration
		resize bool // the second sample sees the new buffer
	}{{0, true}, {time.Hour, false}} {
		var sink *net.UDPConn
		ns.Do(t, func() error {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return err
			}
			sink = c
			if err := c.SetReadBuffer(4096); err != nil {
				return err
			}
			out, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
			if err != nil {
				return err
			}
			defer out.Close()
			for range 200 { // never read: the buffer overflows
				out.Write(make([]byte, 1000))
			}
			return nil
		})
		c := New(Options{Netns: ns.Name, SettingsEvery: tc.every})
		buf := func() int {
			t.Helper()
			s, err := c.Sample()
			if err != nil {
				t.Fatal(err)
			}
			if len(s.UDPSockets) != 1 || s.UDPSockets[0].Drops == 0 {
				t.Fatalf("every %s: UDP sockets %+v, want the sink with its drops", tc.every, s.UDPSockets)
			}
			return int(s.UDPSockets[0].RcvBuf)
		}
		before := buf()
		if err := sink.SetReadBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
		if after := buf(); (after != before) != tc.resize {
			t.Errorf("every %s: receive buffer %d, then %d after SO_RCVBUF with no drop", tc.every, before, after)
		}
		c.Close()
		sink.Close()
	}
}

// The UDP sockets are dumped right after the links, before the qdiscs and the other readers:
// their drops are set against the SNMP counters read between, and the readers after them are
// slower at a first sample (it opens what later ones keep), which in the kernel matrix's
// emulated guests skewed one interval against the other by up to a sixth and made udp-rcvbuf
// see too few of its drops on the sockets.
func TestUDPSocketsReadNextToSNMP(t *testing.T) {
	ns := lab.NewNS(t, "colO")
	k := &dumpLog{Kernel: Live}
	c := New(Options{Netns: ns.Name, Kernel: k})
	defer c.Close()
	if _, err := c.Sample(); err != nil {
		t.Fatal(err)
	}
	at := func(want string) int {
		i := slices.Index(k.dumps, want)
		if i < 0 {
			t.Fatalf("no %s dump among %v", want, k.dumps)
		}
		return i
	}
	if links, udp, qdiscs := at("links"), at("udp"), at("qdiscs"); !(links < udp && udp < qdiscs) {
		t.Errorf("dumps in the order %v: want links, udp sockets, then qdiscs", k.dumps)
	}
}

// dumpLog names every netlink dump its Kernel makes, in order.
type dumpLog struct {
	Kernel
	dumps []string
}

func (l *dumpLog) Netlink(proto int) (nldump.Dumper, error) {
	d, err := l.Kernel.Netlink(proto)
	return loggedDumper{d, l, proto}, err
}

type loggedDumper struct {
	nldump.Dumper
	log   *dumpLog
	proto int
}

func (d loggedDumper) Dump(typ uint16, body []byte, fn func([]byte) error) (bool, error) {
	name := fmt.Sprintf("%d/%d", d.proto, typ)
	switch {
	case d.proto == unix.NETLINK_ROUTE && typ == unix.RTM_GETLINK:
		name = "links"
	case d.proto == unix.NETLINK_ROUTE && typ == unix.RTM_GETQDISC:
		name = "qdiscs"
	case d.proto == unix.NETLINK_SOCK_DIAG && len(body) > 1 && body[1] == unix.IPPROTO_UDP:
		name = "udp"
	}
	d.log.dumps = append(d.log.dumps, name)
	return d.Dumper.Dump(typ, body, fn)
}
