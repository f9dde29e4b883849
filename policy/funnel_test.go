package policy

import (
	"testing"

	"github.com/nettune/nettune/policy/stage"
	"github.com/nettune/nettune/tuner/sample"
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

func pts(link string, pt sample.Point, perQueue ...uint64) []sample.PointCount {
	var out []sample.PointCount
	for q, n := range perQueue {
		out = append(out, sample.PointCount{Point: pt, Link: link, Queue: q, Packets: n})
	}
	return out
}

func TestFunnelXDPToTCIngressPerQueue(t *testing.T) {
	ip := &sample.InPath{XDPMode: "native",
		Points: append(pts("veth1", sample.PointXDP, 1000, 500), pts("veth1", sample.PointTCIngress, 900, 500)...)}
	r := Analyze(newDelta().link("veth1", veth, queues(2)).inPath(ip).build(), DefaultConfig())
	checkInvariants(t, r)
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
	ip := &sample.InPath{Points: append(pts("veth1", sample.PointXDP, 1000), pts("veth1", sample.PointTCIngress, 600)...),
		Foreign: []sample.ForeignProg{{Link: "veth1", Hook: "xdp", Name: "fw", ID: 3}}}
	r := Analyze(newDelta().link("veth1", veth).inPath(ip).build(), DefaultConfig())
	if s := stageOf(funnelOf(r, "veth1", "rx", 0), stage.XDP); s == nil || s.Residual != 40 {
		t.Fatalf("span %+v", s)
	}
	if len(r.Plan) != 0 {
		t.Errorf("plan for a foreign program: %+v", r.Plan)
	}
}

func TestFunnelQdiscBetweenEgressAndXmit(t *testing.T) {
	ip := &sample.InPath{Points: append(pts("veth1", sample.PointTCEgress, 1000), pts("veth1", sample.PointXmit, 900)...)}
	d := newDelta().link("veth1", veth, qdisc(sample.Qdisc{Kind: "pfifo", Handle: "1:", Root: true, Limit: 5, Packets: 900, Drops: 80})).
		inPath(ip).build()
	r := Analyze(d, DefaultConfig())
	checkInvariants(t, r)
	q := stageOf(funnelOf(r, "veth1", "tx", -1), stage.Qdisc)
	if q == nil || !q.Known || q.InRate != 100 || q.OutRate != 90 || q.DropRate != 8 || q.Residual != 2 {
		t.Fatalf("qdisc row %+v", q)
	}
}

func TestFunnelSocketLayer(t *testing.T) {
	snmp := map[string]uint64{"Ip.InReceives": 1000, "Ip.InDelivers": 950, "Ip.InAddrErrors": 30,
		"Udp.InDatagrams": 900, "Udp.RcvbufErrors": 40}
	r := Analyze(newDelta().snmp(snmp).build(), DefaultConfig())
	checkInvariants(t, r)
	f := funnelOf(r, "", "rx", -1)
	ip := stageOf(f, stage.IP)
	if ip == nil || !ip.Known || ip.Residual != 2 {
		t.Fatalf("ip row %+v", ip)
	}
	if u := stageOf(f, stage.UDPRcvbuf); u == nil || u.Known || u.DropRate != 4 || u.OutRate != 90 {
		t.Errorf("udp row %+v", u)
	}
	snmp["Ip.ReasmReqds"] = 10
	r = Analyze(newDelta().snmp(snmp).build(), DefaultConfig())
	if ip := stageOf(funnelOf(r, "", "rx", -1), stage.IP); ip.Known {
		t.Errorf("ip row with reassembly claims a balanced account: %+v", ip)
	}
}

func BenchmarkAnalyze1000Links(b *testing.B) {
	bd := newDelta().softnet(1, func(c *sample.SoftnetCPU) { c.Processed, c.Dropped = 50000, 5000 }).netRx(10000, 10).
		snmp(map[string]uint64{"Udp.InDatagrams": 90000, "Udp.RcvbufErrors": 10000, "Ip.InReceives": 1e5, "Tcp.InSegs": 1e5})
	for i := 0; i < 1000; i++ {
		opts := []linkOpt{veth, queues(2), stats(func(s *sample.LinkStats) { s.RxDropped = uint64(i) }),
			qdisc(sample.Qdisc{Kind: "pfifo_fast", Root: true, Packets: 90000, Drops: uint64(i * 10)})}
		if i%10 == 0 {
			opts = append(opts, counter("rx_queue_0_drops", stage.RxRing, sample.KindDrops, sample.Rx, 0, 500))
		}
		bd.link("veth"+itoaTest(i), opts...)
	}
	d := bd.build()
	cfg := DefaultConfig()
	b.ReportAllocs()
	for b.Loop() {
		Analyze(d, cfg)
	}
}

func itoaTest(i int) string {
	return string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
}
