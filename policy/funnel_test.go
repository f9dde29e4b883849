package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

func funnelOf(r *Report, iface, dir string, queue int) *Funnel {
	for i := range r.Funnel {
		f := &r.Funnel[i]
		q := -1
		if f.Queue != nil {
			q = *f.Queue
		}
		if f.Interface == iface && f.Dir == dir && q == queue {
			return f
		}
	}
	return nil
}

func stageOf(f *Funnel, st stage.Stage) *FunnelStage {
	if f == nil {
		return nil
	}
	for i := range f.Stages {
		if f.Stages[i].Stage == st {
			return &f.Stages[i]
		}
	}
	return nil
}

func pts(link string, pt model.Point, perQueue ...uint64) []model.PointCount {
	var out []model.PointCount
	for q, n := range perQueue {
		out = append(out, model.PointCount{Point: pt, Link: link, Queue: q, Packets: n})
	}
	return out
}

func TestFunnelXDPToTCIngressPerQueue(t *testing.T) {
	ip := &model.InPath{XDPMode: "native",
		Points: append(pts("veth1", model.PointXDP, 1000, 500), pts("veth1", model.PointTCIngress, 900, 500)...)}
	r := analyze(t, newDelta().link("veth1", veth, queues(2)).inPath(ip).build(), DefaultConfig())
	q0 := stageOf(funnelOf(r, "veth1", "rx", 0), stage.Backlog)
	if q0 == nil || !q0.Known || q0.InRate != 100 || q0.OutRate != 90 || q0.Residual != 10 {
		t.Fatalf("queue 0 span %+v", q0)
	}
	if q1 := stageOf(funnelOf(r, "veth1", "rx", 1), stage.Backlog); q1 == nil || q1.Residual != 0 {
		t.Errorf("queue 1 span %+v", q1)
	}
	if all := stageOf(funnelOf(r, "veth1", "rx", -1), stage.Backlog); all == nil || all.InRate != 150 || all.Residual != 10 {
		t.Errorf("device span %+v", all)
	}
}

func TestFunnelForeignXDPSpanIsXDP(t *testing.T) {
	ip := &model.InPath{Points: append(pts("veth1", model.PointXDP, 1000), pts("veth1", model.PointTCIngress, 600)...),
		Foreign: []model.ForeignProg{{Link: "veth1", Hook: "xdp", Name: "fw", ID: 3}}}
	r := analyze(t, newDelta().link("veth1", veth).inPath(ip).build(), DefaultConfig())
	if s := stageOf(funnelOf(r, "veth1", "rx", 0), stage.XDP); s == nil || s.Residual != 40 {
		t.Fatalf("span %+v", s)
	}
	if len(r.Plan) != 0 {
		t.Errorf("plan for a foreign program: %+v", r.Plan)
	}
}

func TestFunnelQdiscBetweenEgressAndXmit(t *testing.T) {
	ip := &model.InPath{Points: append(pts("veth1", model.PointTCEgress, 1000), pts("veth1", model.PointXmit, 900)...)}
	d := newDelta().link("veth1", veth, qdisc(model.Qdisc{Kind: "pfifo", Handle: "1:", Root: true, Limit: 5, Packets: 900, Drops: 80})).
		inPath(ip).build()
	r := analyze(t, d, DefaultConfig())
	q := stageOf(funnelOf(r, "veth1", "tx", -1), stage.Qdisc)
	if q == nil || !q.Known || q.InRate != 100 || q.OutRate != 90 || q.DropRate != 8 || q.Residual != 2 {
		t.Fatalf("qdisc row %+v", q)
	}
}

func TestFunnelSocketLayer(t *testing.T) {
	snmp := map[string]uint64{"Ip.InReceives": 1000, "Ip.InDelivers": 950, "Ip.InAddrErrors": 30,
		"Udp.InDatagrams": 900, "Udp.RcvbufErrors": 40}
	r := analyze(t, newDelta().snmp(snmp).build(), DefaultConfig())
	f := funnelOf(r, "", "rx", -1)
	ip := stageOf(f, stage.IP)
	if ip == nil || !ip.Known || ip.Residual != 2 {
		t.Fatalf("ip row %+v", ip)
	}
	if u := stageOf(f, stage.UDPRcvbuf); u == nil || u.Known || u.DropRate != 4 || u.OutRate != 90 {
		t.Errorf("udp row %+v", u)
	}
	snmp["Ip.ReasmReqds"] = 10
	r = analyze(t, newDelta().snmp(snmp).build(), DefaultConfig())
	if ip := stageOf(funnelOf(r, "", "rx", -1), stage.IP); ip.Known {
		t.Errorf("ip row with reassembly claims a balanced account: %+v", ip)
	}
}

// TestSkipFunnel: the same report without the funnel, and quietHost has the few lossy links
// the benchmarks are meant to measure.
func TestSkipFunnel(t *testing.T) {
	d := quietHost()
	full := analyze(t, d, DefaultConfig())
	var ids []string
	for _, f := range full.Findings {
		ids = append(ids, f.ID)
	}
	want := []string{"udp-rcvbuf/host", "backlog/host/cpu1", "qdisc/host/veth200", "rx-ring/host/veth300", "xdp/host/veth400"}
	if !slices.Equal(ids, want) {
		t.Errorf("quietHost findings %v, want %v", ids, want)
	}
	if len(full.Funnel) != 4*1000+2 {
		t.Errorf("%d funnels, want rx, rx per queue and tx for every link and the socket layer's rx and tx", len(full.Funnel))
	}
	skipped := analyzeWith(t, d, Settings{SkipFunnel: true}, DefaultConfig())
	if skipped.Funnel == nil || len(skipped.Funnel) != 0 {
		t.Fatalf("SkipFunnel: funnel %v, want empty, not nil", skipped.Funnel)
	}
	full.Funnel = []Funnel{}
	if !reflect.DeepEqual(full, skipped) {
		t.Errorf("SkipFunnel changed more than the funnel")
	}
}

// BenchmarkAnalyze1000Links analyses quietHost, funnel included.
func BenchmarkAnalyze1000Links(b *testing.B) {
	d, cfg := quietHost(), DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		Analyze(d, cfg)
	}
}

// BenchmarkAnalyze1000LinksSkipFunnel is what apply --auto pays on quietHost.
func BenchmarkAnalyze1000LinksSkipFunnel(b *testing.B) {
	d, cfg := quietHost(), DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		AnalyzeWith(d, Settings{SkipFunnel: true}, cfg)
	}
}

// quietHost is the host of apply --auto: 1 000 quiet veths as the collector reports them (two
// queues, the veth driver's per-queue counters all zero, noqueue) and a few lossy links, plus
// host-wide backlog and UDP loss.
func quietHost() *model.Delta {
	bd := newDelta().softnet(1, func(c *model.SoftnetCPU) { c.Processed, c.Dropped = 50000, 5000 }).netRx(10000, 10).
		snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000, "Ip.InReceives": 1e5, "Tcp.InSegs": 1e5})
	for i := 0; i < 1000; i++ {
		opts := []linkOpt{veth, queues(2)}
		for q := 0; q < 2; q++ {
			opts = append(opts,
				counter(fmt.Sprintf("rx_queue_%d_xdp_packets", q), stage.RxRing, model.KindPackets, model.Rx, q, 0),
				counter(fmt.Sprintf("rx_queue_%d_drops", q), stage.RxRing, model.KindDrops, model.Rx, q, 0),
				counter(fmt.Sprintf("rx_queue_%d_xdp_drops", q), stage.XDP, model.KindDrops, model.Rx, q, 0),
				counter(fmt.Sprintf("rx_queue_%d_xdp_tx_errors", q), stage.XDP, model.KindDrops, model.Rx, q, 0),
				counter(fmt.Sprintf("tx_queue_%d_xdp_xmit_errors", q), stage.XDP, model.KindDrops, model.Tx, q, 0))
		}
		switch i {
		case 100:
			opts = append(opts, stats(func(s *model.LinkStats) { s.RxDropped = 3000 }))
		case 200:
			opts = append(opts, qdisc(model.Qdisc{Kind: "pfifo", Handle: "1:", Root: true, Limit: 100, Packets: 90000, Drops: 900}))
		case 300:
			opts = append(opts, counterValue("rx_queue_0_drops", 500))
		case 400:
			opts = append(opts, counterValue("rx_queue_1_xdp_drops", 700))
		}
		if i != 200 {
			opts = append(opts, qdisc(model.Qdisc{Kind: "noqueue", Root: true}))
		}
		bd.link("veth"+strconv.Itoa(i), opts...)
	}
	return bd.build()
}

// counterValue sets the value of a driver counter added before it.
func counterValue(name string, v uint64) linkOpt {
	return func(l *model.Link) {
		for i := range l.Counters {
			if l.Counters[i].Name == name {
				l.Counters[i].Value = v
			}
		}
	}
}
