package policy

import (
	"slices"
	"strconv"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// row is one funnel stage in packets; in/out are measured only where the flags say so.
type row struct {
	st                stage.Stage
	point             string
	in, out, drop     uint64
	inKnown, outKnown bool
}

func (e *engine) stageRow(r row) FunnelStage {
	fs := FunnelStage{Stage: r.st, Point: r.point, DropRate: e.rate(r.drop), Known: r.inKnown && r.outKnown,
		InKnown: r.inKnown, OutKnown: r.outKnown}
	if r.inKnown {
		fs.InRate = e.rate(r.in)
	}
	if r.outKnown {
		fs.OutRate = e.rate(r.out)
	}
	if fs.Known {
		// signed: a negative residual (more out than in) is reported, not hidden
		fs.Residual = fs.InRate - fs.OutRate - fs.DropRate
	}
	return fs
}

// funnel builds the per-interface (and per-queue) receive and transmit accounts and the
// netns-wide socket-layer account. Only stages with a measurement appear.
func (e *engine) funnel() []Funnel {
	rd := e.reasonDrops()
	// The measured queues of all links in one array (link i's end at ends[i]): it sizes the
	// output once, and the funnels' Queue fields point into it.
	var queues []int
	ends := make([]int, len(e.d.Links))
	for i := range e.d.Links {
		queues = e.appendRxQueuesMeasured(queues, &e.d.Links[i])
		ends[i] = len(queues)
	}
	var out []Funnel // nil when nothing is measured
	if len(e.d.Links) > 0 {
		out = make([]Funnel, 0, 2*len(e.d.Links)+len(queues)+2)
	}
	var rows []row // reused: appendFunnel copies them out
	start := 0
	for i := range e.d.Links {
		l := &e.d.Links[i]
		rows = e.linkRx(rows[:0], l, -1, rd)
		out = e.appendFunnel(out, Funnel{Interface: l.Name, Netns: e.ns, Dir: "rx"}, rows)
		for k := start; k < ends[i]; k++ {
			rows = e.linkRx(rows[:0], l, queues[k], rd)
			out = e.appendFunnel(out, Funnel{Interface: l.Name, Netns: e.ns, Queue: &queues[k], Dir: "rx"}, rows)
		}
		start = ends[i]
		rows = e.linkTx(rows[:0], l, rd)
		out = e.appendFunnel(out, Funnel{Interface: l.Name, Netns: e.ns, Dir: "tx"}, rows)
	}
	rx, tx := e.socketRows(rd)
	out = e.appendFunnel(out, Funnel{Netns: e.ns, Dir: "rx"}, rx)
	out = e.appendFunnel(out, Funnel{Netns: e.ns, Dir: "tx"}, tx)
	return out
}

func (e *engine) appendFunnel(out []Funnel, f Funnel, rows []row) []Funnel {
	if len(rows) == 0 {
		return out
	}
	f.Stages = make([]FunnelStage, len(rows))
	for i, r := range rows {
		f.Stages[i] = e.stageRow(r)
	}
	return append(out, f)
}

// reasonDrops sums in-path drops per (stage, interface); netns-wide stages use "".
func (e *engine) reasonDrops() map[reasonKey]uint64 {
	out := map[reasonKey]uint64{}
	if e.d.InPath == nil {
		return out
	}
	for _, dc := range e.d.InPath.Drops {
		rs, ok := stageOfReason(dc.Reason, dc.Location)
		if !ok {
			continue
		}
		k := reasonKey{rs: reasonStage{stage: rs.stage}}
		if deviceStage(rs.stage) || rs.stage == stage.Backlog {
			k.iface = dc.Link
			if k.iface == "" {
				k.iface = e.linkName(dc.Ifindex)
			}
		}
		out[k] += dc.Count
	}
	return out
}

func rdrop(rd map[reasonKey]uint64, st stage.Stage, iface string) uint64 {
	return rd[reasonKey{rs: reasonStage{stage: st}, iface: iface}]
}

// appendRxQueuesMeasured appends the queues of l with per-queue in-path points or driver drop
// counters, in order.
func (e *engine) appendRxQueuesMeasured(qs []int, l *model.Link) []int {
	start := len(qs)
	add := func(q int) {
		if q >= 0 && !slices.Contains(qs[start:], q) {
			qs = append(qs, q)
		}
	}
	for _, pt := range []model.Point{model.PointXDP, model.PointTCIngress} {
		for q := range e.pointsByQueue(l.Name, pt) {
			add(q)
		}
	}
	for _, c := range l.Counters {
		if c.Kind == model.KindDrops && (c.Stage == stage.RxRing || c.Stage == stage.XDP) {
			add(c.Queue)
		}
	}
	slices.Sort(qs[start:])
	return qs
}

// linkRx appends the receive account of a link (queue -1) or of one of its queues to rows.
func (e *engine) linkRx(rows []row, l *model.Link, queue int, rd map[reasonKey]uint64) []row {
	add := func(r row) {
		if r.drop > 0 || r.inKnown || r.outKnown {
			rows = append(rows, r)
		}
	}
	xdp, tc := e.pointsByQueue(l.Name, model.PointXDP), e.pointsByQueue(l.Name, model.PointTCIngress)
	pick := func(m map[int]uint64) (uint64, bool) {
		if queue >= 0 {
			v, ok := m[queue]
			return v, ok
		}
		var n uint64
		for _, v := range m {
			n += v
		}
		return n, len(m) > 0
	}

	var xdrop, backlog uint64
	if queue < 0 {
		s := l.Stats
		phy, _ := stageDrops(l, stage.NICPhy)
		fifo, _ := stageDrops(l, stage.NICFifo)
		fifoRT := s.RxMissedErrors
		if fifoRT == 0 {
			fifoRT = s.RxFifoErrors + s.RxOverErrors
		}
		ring, _ := stageDrops(l, stage.RxRing)
		add(row{st: stage.NICPhy, point: "rx crc/frame/length errors", drop: max(phy, s.RxCrcErrors+s.RxFrameErrors+s.RxLengthErrors)})
		add(row{st: stage.NICFifo, point: "rx_missed/fifo/over errors", drop: max(fifo, fifoRT)})
		add(row{st: stage.RxRing, point: "rx_packets", drop: max(ring, rdrop(rd, stage.RxRing, l.Name)), out: s.RxPackets, outKnown: true})
		xdrop, _ = stageDrops(l, stage.XDP)
		backlog = rdrop(rd, stage.Backlog, l.Name)
	} else {
		p, ok := queuePacketsOf(l, model.Rx, queue)
		add(row{st: stage.RxRing, point: "rx queue " + strconv.Itoa(queue) + " packets",
			drop: counterSum(l, stage.RxRing, model.KindDrops, queue), out: p, outKnown: ok})
		xdrop = counterSum(l, stage.XDP, model.KindDrops, queue)
	}

	xin, xok := pick(xdp)
	tin, tok := pick(tc)
	switch {
	case xok && tok:
		// between the XDP and tc-ingress points lie the XDP verdict, the backlog and L2:
		// without an XDP program of someone else's, what vanishes there is backlog/L2 loss
		st := stage.Backlog
		if xdrop > 0 || e.foreignXDP(l.Name) {
			st = stage.XDP
		}
		add(row{st: st, point: "xdp → tc-ingress", in: xin, inKnown: true, out: tin, outKnown: true, drop: xdrop + backlog})
	case xok:
		add(row{st: stage.XDP, point: "xdp", in: xin, inKnown: true, drop: xdrop})
	default:
		add(row{st: stage.XDP, point: "driver xdp drops", drop: xdrop})
		add(row{st: stage.Backlog, point: "kfree_skb CPU_BACKLOG", drop: backlog})
	}
	if queue < 0 {
		var ingress uint64
		for _, q := range l.Qdiscs {
			if ingressKinds[q.Kind] {
				ingress += q.Drops
			}
		}
		add(row{st: stage.TCIngress, point: "tc-ingress", in: tin, inKnown: tok, drop: max(ingress, rdrop(rd, stage.TCIngress, l.Name))})
	} else {
		add(row{st: stage.TCIngress, point: "tc-ingress", in: tin, inKnown: tok})
	}
	return rows
}

func (e *engine) foreignXDP(link string) bool {
	if e.d.InPath == nil {
		return false
	}
	for _, p := range e.d.InPath.Foreign {
		if p.Link == link && p.Hook == "xdp" {
			return true
		}
	}
	return false
}

// linkTx appends the transmit account to rows: tc egress point → qdisc → driver hand-off
// (xmit points) → TX ring → NIC.
func (e *engine) linkTx(rows []row, l *model.Link, rd map[reasonKey]uint64) []row {
	add := func(r row) {
		if r.drop > 0 || r.inKnown || r.outKnown {
			rows = append(rows, r)
		}
	}
	sum := func(m map[int]uint64) (n uint64, ok bool) {
		for _, v := range m {
			n += v
		}
		return n, len(m) > 0
	}
	egress, eok := sum(e.pointsByQueue(l.Name, model.PointTCEgress))
	xmit, xok := sum(e.pointsByQueue(l.Name, model.PointXmit))
	add(row{st: stage.TCEgress, point: "tc-egress", in: egress, inKnown: eok, drop: rdrop(rd, stage.TCEgress, l.Name)})

	var qdrops, qsent uint64
	var rootSeen bool
	for _, q := range l.Qdiscs {
		if q.Root {
			qdrops, qsent, rootSeen = q.Drops, q.Packets, true
		}
	}
	if !rootSeen {
		for _, q := range l.Qdiscs {
			if !ingressKinds[q.Kind] {
				qdrops, qsent = qdrops+q.Drops, qsent+q.Packets
			}
		}
	}
	qr := row{st: stage.Qdisc, point: "qdisc", in: egress, inKnown: eok, drop: max(qdrops, rdrop(rd, stage.Qdisc, l.Name)+rdrop(rd, stage.AQM, l.Name))}
	switch {
	case xok:
		qr.point, qr.out, qr.outKnown = "tc-egress → xmit", xmit, true
	case rootSeen || len(l.Qdiscs) > 0:
		qr.point, qr.out, qr.outKnown = "qdisc sent", qsent, true
	}
	add(qr)

	ring, _ := stageDrops(l, stage.TxRing)
	add(row{st: stage.TxRing, point: "driver tx ring drops", drop: ring})
	s := l.Stats
	nic, _ := stageDrops(l, stage.NICTx)
	rt := s.TxFifoErrors + s.TxCarrierErrors + s.TxAbortedErrors
	if !virtual(l) {
		rt += s.TxDropped
	}
	add(row{st: stage.NICTx, point: "tx_packets", drop: max(nic, rt), out: s.TxPackets, outKnown: true})
	return rows
}

// socketRows is the netns-wide account from /proc/net/snmp and netstat.
func (e *engine) socketRows(rd map[reasonKey]uint64) (rx, tx []row) {
	has := func(k string) bool { _, ok := e.d.SNMP[k]; return ok }
	n := e.snmp
	drop := func(st stage.Stage, counted uint64) uint64 { return max(counted, rdrop(rd, st, "")) }
	if has("Ip.InReceives") {
		ipDrops := n("Ip.InHdrErrors") + n("Ip.InAddrErrors") + n("IpExt.InNoRoutes") + n("Ip.InUnknownProtos") +
			n("Ip.InDiscards") + n("IpExt.InCsumErrors") + n("TcpExt.IPReversePathFilter")
		// fragments enter as packets and leave as reassembled datagrams: the account only
		// balances when no reassembly happened
		rx = append(rx, row{st: stage.IP, point: "Ip.InReceives → InDelivers + ForwDatagrams", in: n("Ip.InReceives"), inKnown: true,
			out: n("Ip.InDelivers") + n("Ip.ForwDatagrams"), outKnown: n("Ip.ReasmReqds") == 0, drop: drop(stage.IP, ipDrops)})
	}
	if has("Ip.ReasmReqds") {
		rx = append(rx, row{st: stage.IPReassembly, point: "Ip.ReasmReqds (fragments) → ReasmOKs (datagrams)",
			drop: drop(stage.IPReassembly, n("Ip.ReasmFails")+n("Ip6.ReasmFails"))})
	}
	if has("Udp.InDatagrams") {
		rx = append(rx,
			row{st: stage.UDPRcvbuf, point: "Udp.InDatagrams (read by applications)", out: e.udp("InDatagrams"), outKnown: true, drop: drop(stage.UDPRcvbuf, e.udp("RcvbufErrors"))},
			row{st: stage.UDPMem, point: "Udp.MemErrors", drop: drop(stage.UDPMem, e.udp("MemErrors"))})
		tx = append(tx, row{st: stage.UDPSndbuf, point: "Udp.OutDatagrams", out: e.udp("OutDatagrams"), outKnown: true, drop: drop(stage.UDPSndbuf, e.udp("SndbufErrors"))})
	}
	if has("Tcp.InSegs") {
		var tcpDrops uint64
		for _, k := range tcpRcvDropFields {
			tcpDrops += n("TcpExt." + k)
		}
		rx = append(rx,
			row{st: stage.TCPRcvbuf, point: "Tcp.InSegs", in: n("Tcp.InSegs"), inKnown: true, drop: drop(stage.TCPRcvbuf, tcpDrops)},
			row{st: stage.TCPBacklog, point: "TcpExt.TCPBacklogDrop", drop: drop(stage.TCPBacklog, n("TcpExt.TCPBacklogDrop"))},
			row{st: stage.TCPAcceptQueue, point: "Tcp.PassiveOpens", out: n("Tcp.PassiveOpens"), outKnown: true,
				drop: drop(stage.TCPAcceptQueue, max(n("TcpExt.ListenDrops"), n("TcpExt.ListenOverflows")+n("TcpExt.TCPReqQFullDrop")))})
	}
	if has("Ip.OutRequests") {
		tx = append(tx, row{st: stage.IPOut, point: "Ip.OutRequests", in: n("Ip.OutRequests"), inKnown: true,
			drop: drop(stage.IPOut, n("Ip.OutNoRoutes")+n("Ip.OutDiscards"))})
	}
	return rx, tx
}
