package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/nettune/nettune/model"
)

// needTool finds an external program a test runs. On a developer's machine a missing one
// skips the test; in CI (CI set) it fails, so CI can never pass by skipping.
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found on PATH: make test unpacks it from Debian's %s package into .cache", name, pkg)
		}
		t.Skipf("%s not found on PATH (make test unpacks it from Debian's %s package into .cache, installing nothing)", name, pkg)
	}
	return p
}

// testServer is a server of one namespace with no probes, a fixture-free collector it never
// calls, and a state dir of its own.
func testServer(t testing.TB, f serveFlags) *server {
	cfg := DefaultConfig()
	cfg.Netns = "host"
	cfg.BPF.Enabled = false
	cfg.Interval = time.Second
	cfg.Apply.StateDir = t.TempDir()
	s, err := newServer(cfg, f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostSample is n veth links, two CPUs and the SNMP fields the UDP rule reads, with every
// counter at scale × a per-second rate; Udp.RcvbufErrors grows by lossPerSec.
func hostSample(n int, at time.Time, scale, lossPerSec uint64) *model.Sample {
	s := &model.Sample{Time: at, NCPU: 2,
		SNMP: map[string]uint64{"Udp.InDatagrams": 10000 * scale, "Udp.RcvbufErrors": lossPerSec * scale,
			"Udp.InErrors": lossPerSec * scale, "Udp.NoPorts": 0, "Ip.InReceives": 12000 * scale},
		Sysctls: map[string]string{"net.core.rmem_default": "212992", "net.core.rmem_max": "4194304",
			"net.core.netdev_max_backlog": "1000", "net.core.netdev_budget": "300"},
		Softnet: []model.SoftnetCPU{{CPU: 0, Processed: uint32(6000 * scale)}, {CPU: 1, Processed: uint32(6000 * scale)}},
		NetRx:   []uint64{100 * scale, 100 * scale},
	}
	// The rest of a real /proc/net/snmp + netstat: about 250 fields that stay put.
	for i := range 250 {
		s.SNMP[fmt.Sprintf("TcpExt.Field%d", i)] = 7
	}
	for i := range n {
		s.Links = append(s.Links, model.Link{
			Name: fmt.Sprintf("veth%d", i), Index: i + 2, Kind: "veth", Driver: "veth", OperUp: true,
			MTU: 1500, TxQueueLen: 1000, NumRxQ: 1, NumTxQ: 1,
			Stats: model.LinkStats{RxPackets: 100 * scale, TxPackets: 100 * scale,
				RxBytes: 150000 * scale, TxBytes: 150000 * scale},
			Qdiscs:   []model.Qdisc{{Kind: "noqueue", Parent: "root", Root: true}},
			RxQueues: []model.RxQueue{{Queue: 0, RPSCPUs: "0"}},
		})
	}
	return s
}

// gather returns the served families by name.
func gather(t testing.TB, s *server) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func TestServeStepServesLastReport(t *testing.T) {
	s := testServer(t, serveFlags{})
	t0 := time.Unix(1772366400, 0)
	if got := gather(t, s)["nettune_interval_seconds"]; got != nil {
		t.Fatal("report metrics before the first interval ended")
	}
	s.prev = hostSample(3, t0, 1, 400)
	if err := s.step(hostSample(3, t0.Add(time.Second), 2, 400), 3*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	fams := gather(t, s)
	var udp float64
	for _, m := range fams["nettune_finding_drop_packets_per_second"].GetMetric() {
		if labelsOf(m)["stage"] == "udp-rcvbuf" {
			udp = m.GetGauge().GetValue()
		}
	}
	if udp != 400 {
		t.Errorf("udp-rcvbuf finding = %v packets/s, want 400", udp)
	}
	for _, name := range []string{"nettune_funnel_dropped_packets_total", "nettune_collect_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines", "nettune_sample_errors_total"} {
		if fams[name] == nil {
			t.Errorf("%s not served", name)
		}
	}
	// The counter is the kernel's count since boot: the sample's value, not the interval's.
	for _, m := range fams["nettune_funnel_dropped_packets_total"].GetMetric() {
		if labelsOf(m)["stage"] == "udp-rcvbuf" && m.GetCounter().GetValue() != 800 {
			t.Errorf("udp-rcvbuf dropped total = %v, want 800 (Udp.RcvbufErrors of the last sample)", m.GetCounter().GetValue())
		}
	}
	if got := fams["nettune_collect_duration_seconds"].GetMetric()[0].GetGauge().GetValue(); got != 0.003 {
		t.Errorf("collect duration %v, want 0.003", got)
	}
	if fams["nettune_remediation_actions_total"] != nil {
		t.Error("remediation series without --remediate")
	}

	// The next interval replaces the report: loss stopped, the finding goes away.
	if err := s.step(hostSample(3, t0.Add(2*time.Second), 3, 0), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if m := gather(t, s)["nettune_finding_drop_packets_per_second"]; m != nil {
		t.Errorf("finding still served after the loss stopped: %v", m)
	}
	if err := s.step(hostSample(3, t0, 1, 0), time.Millisecond); !errors.Is(err, model.ErrOrder) {
		t.Errorf("sample older than the previous one: err = %v, want ErrOrder", err)
	}
}

// Metrics are built when scraped, once per report, and not for reports nobody scraped.
func TestLastReportRendersOnScrape(t *testing.T) {
	var l lastReport
	renders := 0
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	report := func() []prometheus.Metric { renders++; return []prometheus.Metric{g} }
	collect := func() int {
		ch := make(chan prometheus.Metric, 10)
		l.Collect(ch)
		close(ch)
		return len(ch)
	}
	if n := collect(); n != 0 {
		t.Fatalf("%d metrics before the first report", n)
	}
	l.set(report)
	l.set(report) // an interval nobody scraped
	if renders != 0 {
		t.Fatalf("rendered %d times before a scrape", renders)
	}
	if collect() != 1 || collect() != 1 || renders != 1 {
		t.Fatalf("two scrapes of one report rendered %d times", renders)
	}
}

func TestServeHTTP(t *testing.T) {
	s := testServer(t, serveFlags{})
	t0 := time.Now().Add(-time.Second)
	s.prev = hostSample(2, t0, 1, 50)
	if err := s.step(hostSample(2, t0.Add(time.Second), 2, 50), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `nettune_findings{class="capacity",`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	cmd := exec.Command(needTool(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
	}

	s.lastOK.Store(time.Now().UnixNano())
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz after a sample: %d %q", code, body)
	}
	s.lastOK.Store(time.Now().Add(-4 * time.Second).UnixNano())
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no successful sample") {
		t.Errorf("/healthz after 4 intervals without a sample: %d %q", code, body)
	}
	if code, _ := get("/other"); code != http.StatusNotFound {
		t.Errorf("/other: %d, want 404", code)
	}
}

func TestServePerQueueOptIn(t *testing.T) {
	mk := func(at time.Time, scale uint64) *model.Sample {
		s := hostSample(1, at, scale, 0)
		s.Links[0].Counters = []model.Counter{{Name: "rx_queue_0_drops", Stage: "rx-ring", Kind: model.KindDrops,
			Dir: model.Rx, Queue: 0, Value: 5 * scale}}
		return s
	}
	t0 := time.Unix(1772366400, 0)
	for _, perQueue := range []bool{false, true} {
		s := testServer(t, serveFlags{perQueue: perQueue})
		s.prev = mk(t0, 1)
		if err := s.step(mk(t0.Add(time.Second), 2), 0); err != nil {
			t.Fatal(err)
		}
		if got := gather(t, s)["nettune_queue_funnel_dropped_packets_total"] != nil; got != perQueue {
			t.Errorf("--per-queue=%v: per-queue series served = %v", perQueue, got)
		}
	}
}

func TestServeUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"bad listen":    {"serve", "--no-bpf", "--listen", "127.0.0.1:99999"},
		"missing netns": {"serve", "--no-bpf", "--listen", "127.0.0.1:0", "--netns", "nettune-no-such-ns"},
		"missing iface": {"serve", "--no-bpf", "--listen", "127.0.0.1:0", "--netns", "host", "--iface", "nettune-nosuch"},
		"argument":      {"serve", "extra"},
	} {
		var stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := Execute(ctx, args, Streams{Out: io.Discard, Err: &stderr})
		cancel()
		if code := ExitCode(err, io.Discard); code != ExitUsage {
			t.Errorf("%s: exit %d (%v), want %d", name, code, err, ExitUsage)
		}
	}
}

// BenchmarkServeStep is serve's per-interval work after sampling (diff, policy, metrics) on
// 100 interfaces.
func BenchmarkServeStep(b *testing.B) {
	noChecks(b)
	s := testServer(b, serveFlags{})
	t0 := time.Unix(1772366400, 0)
	s.prev = hostSample(100, t0, 1, 400)
	for i := uint64(2); b.Loop(); i++ {
		b.StopTimer() // building the synthetic sample is the collector's work, not step's
		cur := hostSample(100, t0.Add(time.Duration(i)*time.Second), i, 400)
		b.StartTimer()
		if err := s.step(cur, 0); err != nil {
			b.Fatal(err)
		}
		// The worst case: every interval is scraped, so every report is rendered.
		ch := make(chan prometheus.Metric, 4096)
		s.report.Collect(ch)
	}
}
