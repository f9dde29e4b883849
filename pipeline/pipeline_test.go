package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/pipeline"
	"github.com/nettune/nettune/policy"
	"github.com/nettune/nettune/render"
)

var t0 = time.Unix(1772366400, 0)

// udpHost is a sample with UDP receive-buffer loss growing by lossPerSec.
func udpHost(at time.Time, scale, lossPerSec uint64) *model.Sample {
	return &model.Sample{Time: at, NCPU: 1,
		SNMP: map[string]uint64{"Udp.InDatagrams": 10000 * scale, "Udp.RcvbufErrors": lossPerSec * scale,
			"Udp.InErrors": lossPerSec * scale, "Ip.InReceives": 12000 * scale},
		Sysctls: map[string]string{"net.core.rmem_default": "212992", "net.core.rmem_max": "4194304"},
		Softnet: []model.SoftnetCPU{{CPU: 0, Processed: uint32(12000 * scale)}},
	}
}

// hostRoot is a /proc with the two files a run reads when it opens.
func hostRoot(t *testing.T) string {
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"hostname": "node-1\n", "osrelease": "6.18.44\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func open(t *testing.T) *pipeline.Run {
	r := pipeline.Open(pipeline.Options{ProcRoot: hostRoot(t), Policy: policy.DefaultConfig()})
	t.Cleanup(r.Close)
	return r
}

// A reader that failed is missing evidence once: in the report, the table and the metric
// (the CLI used to add the sample's errors a second time after the policy had).
func TestReaderErrorsListedOnce(t *testing.T) {
	r := open(t)
	prev, cur := udpHost(t0, 1, 0), udpHost(t0.Add(time.Second), 2, 0)
	cur.Errors = []string{"interrupts: open /proc/interrupts: permission denied"}
	res, err := r.Analyze(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Report.Missing; len(got) != 1 || got[0] != cur.Errors[0] {
		t.Fatalf("missing = %q, want the reader error once", got)
	}
	var table, prom bytes.Buffer
	if err := render.Table(&table, res); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(table.String(), "permission denied"); n != 1 {
		t.Errorf("table lists the error %d times:\n%s", n, table.String())
	}
	if err := render.Prometheus(&prom, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prom.String(), "\nnettune_missing_evidence 1\n") {
		t.Errorf("nettune_missing_evidence is not 1:\n%s", prom.String())
	}
}

func TestAnalyze(t *testing.T) {
	r := open(t)
	res, err := r.Analyze(udpHost(t0, 1, 400), udpHost(t0.Add(time.Second), 2, 400))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Meta
	if m.Host != "node-1" || m.Kernel != "6.18.44" || m.Mode != pipeline.ModeCounters || m.BPFNote != "" {
		t.Errorf("meta %+v", m)
	}
	if !res.Report.Loss() || res.Delta.Interval != time.Second || len(res.Report.Funnel) == 0 {
		t.Errorf("report: loss %v, interval %v, %d funnels", res.Report.Loss(), res.Delta.Interval, len(res.Report.Funnel))
	}
	quick, err := r.Findings(udpHost(t0, 1, 400), udpHost(t0.Add(time.Second), 2, 400))
	if err != nil {
		t.Fatal(err)
	}
	if len(quick.Report.Funnel) != 0 || len(quick.Report.Findings) != len(res.Report.Findings) || len(quick.Report.Plan) != len(res.Report.Plan) {
		t.Errorf("Findings: %d funnels, %d findings, %d actions; want none, %d, %d", len(quick.Report.Funnel),
			len(quick.Report.Findings), len(quick.Report.Plan), len(res.Report.Findings), len(res.Report.Plan))
	}
	if _, err := r.Analyze(udpHost(t0, 2, 0), udpHost(t0, 1, 0)); !errors.Is(err, model.ErrOrder) {
		t.Errorf("samples out of order: err = %v, want ErrOrder", err)
	}
}

// The probes' note is said once: the snapshot's note already holds the notes of attaching.
func TestMetaFromProbes(t *testing.T) {
	r := open(t)
	cur := udpHost(t0.Add(time.Second), 2, 0)
	fp := model.ForeignProg{Link: "eth1", Hook: "xdp", ID: 42, Name: "xdp_fw", Mode: "native"}
	cur.InPath = &model.InPath{XDPMode: "off", Note: "xdp off: auto never attaches native XDP to veth",
		Foreign: []model.ForeignProg{fp}}
	res, err := r.Analyze(udpHost(t0, 1, 0), cur)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Meta
	if m.XDPMode != "off" || m.BPFNote != cur.InPath.Note || len(m.Foreign) != 1 || m.Foreign[0] != fp {
		t.Errorf("meta %+v", m)
	}
	if r.Meta().XDPMode != "" {
		t.Error("an interval's probe state leaked into the run's meta")
	}
}

func TestMeasureStopsWithTheWait(t *testing.T) {
	r := open(t)
	stop := errors.New("stop")
	called := false
	_, err := r.Measure(context.Background(), func(context.Context) error { called = true; return stop })
	// Sampling this test's own namespace works without root; a machine without netlink
	// fails the first sample before the wait.
	if called && !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the wait's", err)
	}
	if !called && err == nil {
		t.Fatal("no wait and no error")
	}
}

// Without root the probes are not attached and the run says why instead of failing.
func TestProbesNeedRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as root: the probes would attach")
	}
	r := pipeline.Open(pipeline.Options{ProcRoot: hostRoot(t), Probes: true, Policy: policy.DefaultConfig()})
	defer r.Close()
	if m := r.Meta(); m.Mode != pipeline.ModeCounters || !strings.Contains(m.BPFNote, "need root") {
		t.Errorf("meta %+v", m)
	}
}

func TestDrops(t *testing.T) {
	prev := []model.DropCount{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Netns: 1, Count: 10}}
	cur := []model.DropCount{{Reason: "NO_SOCKET", Location: "__udp4_lib_rcv+0x4bc", Netns: 1, Count: 30},
		{Reason: "QDISC_DROP", Location: "__dev_queue_xmit+0xee2", Ifindex: 4, Link: "eth1", Netns: 1, Count: 5},
		{Reason: "NO_SOCKET", Location: "__udp6_lib_rcv+0x11", Netns: 1, Count: 0}}
	fr := pipeline.Drops(prev, cur, t0, 2*time.Second)
	if len(fr.Drops) != 2 || fr.IntervalSeconds != 2 || !fr.Time.Equal(t0) {
		t.Fatalf("frame %+v", fr)
	}
	if d := fr.Drops[0]; d.Reason != "NO_SOCKET" || d.Count != 20 || d.Rate != 10 {
		t.Errorf("first row %+v", d)
	}
	if d := fr.Drops[1]; d.Link != "eth1" || d.Count != 5 || d.Rate != 2.5 {
		t.Errorf("second row %+v", d)
	}
	if fr := pipeline.Drops(cur, cur, t0, time.Second); fr.Drops == nil || len(fr.Drops) != 0 {
		t.Errorf("nothing new: %+v, want an empty list", fr.Drops)
	}
}
