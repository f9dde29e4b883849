package pipeline_test

import (
	"bytes"
	"context"
	"flag"
	"github.com/nettune/nettune/internal/golden"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/collect"
	"github.com/nettune/nettune/collect/replay"
	"github.com/nettune/nettune/internal/lab"
	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

var (
	record = flag.Bool("record", false, "record the end-to-end host again from a lab setup (root)")
)

// recording is the recorded host of the end-to-end test (testdata/README.md).
const recording = "../testdata/recorded/udp-rcvbuf"

// TestEndToEnd runs a recorded host through the whole pipeline, as advise does: two samples
// one interval apart — /proc and /sys trees, netlink dumps and ethtool answers recorded
// from a lab namespace that lost UDP datagrams to a small receive buffer next to a port
// scan — to the table, JSON and Prometheus outputs. It needs no root and reads nothing of
// the machine it runs on.
func TestEndToEnd(t *testing.T) {
	if *record {
		recordHost(t)
	}
	h, err := replay.Load(recording, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := pipeline.Open(pipeline.Options{ProcRoot: h.ProcRoot(), SysRoot: h.SysRoot(), Kernel: h,
		Policy: policy.DefaultConfig()})
	defer run.Close()
	res, err := run.Measure(context.Background(), func(context.Context) error { return h.Next() })
	if err != nil {
		t.Fatal(err)
	}
	for f, ext := range map[render.Format]string{render.FormatTable: "txt", render.FormatJSON: "json", render.FormatPrometheus: "prom"} {
		var b bytes.Buffer
		if err := render.Advise(&b, f, res); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/e2e/udp-rcvbuf."+ext, b.Bytes())
	}
	if err := policy.Check(res.Report, res.Delta); err != nil {
		t.Error(err)
	}
	// What the lab did must be what the pipeline found: the overflow first, the firewall's
	// drops named by their rule, the scan at socket lookup.
	r := res.Report
	if !r.Loss() || r.Findings[0].Stage != "udp-rcvbuf" || len(r.Missing) != 0 || len(r.Findings) != 3 {
		t.Fatalf("loss %v, findings %+v, missing %q", r.Loss(), r.Findings, r.Missing)
	}
	if f := r.Findings[1]; f.ID != "netfilter/host/input" || f.Class != "policy" || len(f.Rules) != 1 ||
		f.Rules[0].Expr != "udp dport 9 counter drop" || f.Rules[0].Table != "nettune_lab" {
		t.Errorf("firewall finding %+v", f)
	}
	if f := r.Findings[2]; f.ID != "socket-lookup/host/udp" || f.Class != "benign" {
		t.Errorf("scan finding %+v", f)
	}
}

// recordHost records the end-to-end host: a veth pair between two lab namespaces; in the
// receiving one a UDP socket with a tiny receive buffer that never reads, flooded for a
// second, a scan of closed ports, and datagrams to port 9 that an nftables rule (with a
// counter) drops at the input hook. Traffic stops before each sample, so the files copied
// after it show the same instant as the netlink and ethtool answers. The recording is then
// replayed and must give the live samples back.
func recordHost(t *testing.T) {
	lab.RequireRoot(t)
	a, b := lab.NewNS(t, "e2eA"), lab.NewNS(t, "e2eB")
	v := lab.NewVeth(t, a, b, lab.VethOpts{Subnet: 77})
	sink := lab.UDPSink(t, b, v.BAddr+":0", lab.SinkOpts{RcvBuf: lab.TinyRcvBuf})
	lab.DropUDP(t, b, lab.FirewallOpts{Port: 9, Counter: true})

	dir := t.TempDir()
	rec := replay.NewRecorder(collect.Live)
	col := collect.New(collect.Options{Netns: b.Name, Kernel: rec})
	defer col.Close()
	var live []*model.Sample
	sample := func() {
		time.Sleep(200 * time.Millisecond) // the last datagrams are delivered or dropped
		s, err := col.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Files(dir, b.Name, "/proc", "lab-host", s); err != nil {
			t.Fatal(err)
		}
		live = append(live, s)
	}
	sample()
	rec.Next()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := lab.UDPFlood(ctx, a, sink.Addr(), lab.FloodOpts{Flows: 4, Size: 256, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, lab.ScanPorts)
	for i := range ports {
		ports[i] = lab.ScanPortFirst + i
	}
	if _, err := lab.PortScan(context.Background(), a, v.BAddr, ports); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.UDPFlood(context.Background(), a, v.BAddr+":9", lab.FloodOpts{Packets: 2000, Size: 64}); err != nil {
		t.Fatal(err)
	}
	sample()
	if err := rec.Write(dir); err != nil {
		t.Fatal(err)
	}

	h, err := replay.Load(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	replayed := collect.New(collect.Options{ProcRoot: h.ProcRoot(), SysRoot: h.SysRoot(), Kernel: h})
	defer replayed.Close()
	for i, want := range live {
		if i > 0 {
			if err := h.Next(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := replayed.Sample()
		if err != nil {
			t.Fatal(err)
		}
		sameSample(t, i, got, want)
	}
	if err := os.RemoveAll(recording); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(recording, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
}

// sameSample compares a replayed sample with the live one it was recorded from. Host-wide
// counters (softnet, softirqs) moved between the sample and the copy of their files: only
// their shape is compared.
func sameSample(t *testing.T, i int, got, want *model.Sample) {
	t.Helper()
	want.Netns = ""                // the replay examines "its own" namespace
	want.Time = want.Time.Round(0) // no monotonic clock reading in a recording
	if len(got.Softnet) != len(want.Softnet) || len(got.NetRx) != len(want.NetRx) {
		t.Errorf("sample %d: %d softnet and %d softirq CPUs, want %d and %d", i, len(got.Softnet), len(got.NetRx),
			len(want.Softnet), len(want.NetRx))
	}
	got.Softnet, got.NetRx, want.Softnet, want.NetRx = nil, nil, nil, nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample %d replays differently (-live +replayed):\n%s", i, diff)
	}
}
