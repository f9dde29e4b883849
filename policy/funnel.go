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

func (in *input) stageRow(r row) FunnelStage {
	fs := FunnelStage{Stage: r.st, Point: r.point, DropRate: in.rate(r.drop), Known: r.inKnown && r.outKnown,
		InKnown: r.inKnown, OutKnown: r.outKnown}
	if r.inKnown {
		fs.InRate = in.rate(r.in)
	}
	if r.outKnown {
		fs.OutRate = in.rate(r.out)
	}
	if fs.Known {
		// signed: a negative residual (more out than in) is reported, not hidden
		fs.Residual = fs.InRate - fs.OutRate - fs.DropRate
	}
	return fs
}

// pathOrder is each stage's position on its path (stage.RxStages, stage.TxStages): funnel
// rows follow it.
var pathOrder = func() map[stage.Stage]int {
	m := map[stage.Stage]int{}
	for _, path := range [][]stage.Stage{stage.RxStages, stage.TxStages} {
		for i, s := range path {
			m[s] = i
		}
	}
	return m
}()

// funnel builds the per-interface (and per-queue) receive and transmit accounts and the
// netns-wide socket-layer account. Only stages with a measurement appear, in path order.
func (in *input) funnel() []Funnel {
	rd := in.reasonDrops()
	// The measured queues of all links in one array (link i's end at ends[i]): it sizes the
	// output once, and the funnels' Queue fields point into it.
	var queues []int
	ends := make([]int, len(in.d.Links))
	for i := range in.d.Links {
		queues = in.appendRxQueuesMeasured(queues, &in.d.Links[i])
		ends[i] = len(queues)
	}
	var out []Funnel // nil when nothing is measured
	if len(in.d.Links) > 0 {
		out = make([]Funnel, 0, 2*len(in.d.Links)+len(queues)+2)
	}
	var rows []row // reused: appendFunnel copies them out
	start := 0
	for i := range in.d.Links {
		l := &in.d.Links[i]
		rows = in.linkRx(rows[:0], l, -1, rd)
		out = in.appendFunnel(out, Funnel{Interface: l.Name, Netns: in.ns, Dir: "rx"}, rows)
		for k := start; k < ends[i]; k++ {
			rows = in.linkRx(rows[:0], l, queues[k], rd)
			out = in.appendFunnel(out, Funnel{Interface: l.Name, Netns: in.ns, Queue: &queues[k], Dir: "rx"}, rows)
		}
		start = ends[i]
		rows = in.linkTx(rows[:0], l, rd)
		out = in.appendFunnel(out, Funnel{Interface: l.Name, Netns: in.ns, Dir: "tx"}, rows)
	}
	rx, tx := in.socketRows(rd)
	out = in.appendFunnel(out, Funnel{Netns: in.ns, Dir: "rx"}, rx)
	out = in.appendFunnel(out, Funnel{Netns: in.ns, Dir: "tx"}, tx)
	return out
}

func (in *input) appendFunnel(out []Funnel, f Funnel, rows []row) []Funnel {
	if len(rows) == 0 {
		return out
	}
	// Rows follow the path (stage.RxStages, TxStages); the builders append them in that
	// order already, so this is a check that costs one lookup per row, and sorts only if not.
	sorted, prev := true, -1
	for i := 0; i < len(rows) && sorted; i++ {
		pos := pathOrder[rows[i].st]
		sorted, prev = prev <= pos, pos
	}
	if !sorted {
		slices.SortStableFunc(rows, func(a, b row) int { return pathOrder[a.st] - pathOrder[b.st] })
	}
	f.Stages = make([]FunnelStage, len(rows))
	for i, r := range rows {
		f.Stages[i] = in.stageRow(r)
	}
	return append(out, f)
}

// stageIface is a stage and the interface of a device stage ("" for the others).
type stageIface struct {
	st    stage.Stage
	iface string
}

// reasonDrops sums in-path drops per stage and interface; netns-wide stages use "".
func (in *input) reasonDrops() map[stageIface]uint64 {
	out := map[stageIface]uint64{}
	in.placedDrops(func(rp reasonPlace, iface string, n uint64) { out[stageIface{rp.stage, iface}] += n })
	return out
}

// placedDrops calls fn with every in-path drop count that has a place, and the interface of
// a device stage or the backlog ("" at the other stages).
func (in *input) placedDrops(fn func(rp reasonPlace, iface string, n uint64)) {
	if in.d.InPath == nil {
		return
	}
	for _, dc := range in.d.InPath.Drops {
		rp, ok := placeOfReason(dc.Reason, dc.Location)
		if !ok {
			continue
		}
		iface := ""
		if deviceStage(rp.stage) || rp.stage == stage.Backlog {
			iface = dc.Link
			if iface == "" {
				iface = in.linkName(dc.Ifindex)
			}
		}
		fn(rp, iface, dc.Count)
	}
}

func rdrop(rd map[stageIface]uint64, st stage.Stage, iface string) uint64 {
	return rd[stageIface{st, iface}]
}

// appendRxQueuesMeasured appends the queues of l with per-queue in-path points or driver drop
// counters, in order.
func (in *input) appendRxQueuesMeasured(qs []int, l *model.Link) []int {
	start := len(qs)
	add := func(q int) {
		if q >= 0 && !slices.Contains(qs[start:], q) {
			qs = append(qs, q)
		}
	}
	for _, pt := range []model.Point{model.PointXDP, model.PointTCIngress} {
		for q := range in.pointsByQueue(l.Name, pt) {
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
func (in *input) linkRx(rows []row, l *model.Link, queue int, rd map[stageIface]uint64) []row {
	add := func(r row) {
		if r.drop > 0 || r.inKnown || r.outKnown {
			rows = append(rows, r)
		}
	}
	xdp, tc := in.pointsByQueue(l.Name, model.PointXDP), in.pointsByQueue(l.Name, model.PointTCIngress)
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
		fifoPolicy, _ := driverDrops(l, stage.NICFifo, stage.ClassPolicy)
		fifoRT := s.RxMissedErrors
		if fifoRT == 0 {
			fifoRT = s.RxFifoErrors + s.RxOverErrors
		}
		ring, _ := stageDrops(l, stage.RxRing)
		add(row{st: stage.NICPhy, point: "rx crc/frame/length errors", drop: max(phy, s.RxCrcErrors+s.RxFrameErrors+s.RxLengthErrors)})
		add(row{st: stage.NICFifo, point: "rx_missed/fifo/over errors", drop: max(fifo, fifoRT) + fifoPolicy})
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
		if xdrop > 0 || in.foreignXDP(l.Name) {
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

// linkTx appends the transmit account to rows: tc egress point → qdisc → driver hand-off
// (xmit points) → TX ring → NIC.
func (in *input) linkTx(rows []row, l *model.Link, rd map[stageIface]uint64) []row {
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
	egress, eok := sum(in.pointsByQueue(l.Name, model.PointTCEgress))
	xmit, xok := sum(in.pointsByQueue(l.Name, model.PointXmit))
	add(row{st: stage.TCEgress, point: "tc-egress", in: egress, inKnown: eok, drop: rdrop(rd, stage.TCEgress, l.Name)})

	qdrops, qsent, rootSeen := rootQdisc(l)
	qr := row{st: stage.Qdisc, point: "qdisc", in: egress, inKnown: eok, drop: max(qdrops, rdrop(rd, stage.Qdisc, l.Name))}
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
	nicPolicy, _ := driverDrops(l, stage.NICTx, stage.ClassPolicy)
	rt := s.TxFifoErrors + s.TxCarrierErrors + s.TxAbortedErrors
	if !virtual(l) {
		rt += s.TxDropped
	}
	add(row{st: stage.NICTx, point: "tx_packets", drop: max(nic, rt) + nicPolicy, out: s.TxPackets, outKnown: true})
	return rows
}

// rootQdisc is the drops and sent packets of l's egress qdiscs: the root's, which include
// its children's, or the sum of all egress qdiscs when there is no root.
func rootQdisc(l *model.Link) (drops, sent uint64, rootSeen bool) {
	for _, q := range l.Qdiscs {
		if q.Root {
			drops, sent, rootSeen = q.Drops, q.Packets, true
		}
	}
	if !rootSeen {
		for _, q := range l.Qdiscs {
			if !ingressKinds[q.Kind] {
				drops, sent = drops+q.Drops, sent+q.Packets
			}
		}
	}
	return drops, sent, rootSeen
}

// socketRows is the netns-wide account from /proc/net/snmp and netstat, the conntrack
// counters and the firewall's rule counters. A row appears when its throughput counter was
// read or its stage dropped packets.
func (in *input) socketRows(rd map[stageIface]uint64) (rx, tx []row) {
	has := func(k string) bool { _, ok := in.d.SNMP[k]; return ok }
	n := in.snmp
	add := func(rows *[]row, r row, anchor string, counted uint64) {
		r.drop = max(counted, rdrop(rd, r.st, ""))
		if has(anchor) || r.drop > 0 {
			*rows = append(*rows, r)
		}
	}
	add(&rx, row{st: stage.Netfilter, point: "nf_conntrack drops + DROP rule counters"}, "", in.netfilterDrops())
	// fragments enter as packets and leave as reassembled datagrams: the account only
	// balances when no reassembly happened
	add(&rx, row{st: stage.IP, point: "Ip.InReceives → InDelivers + ForwDatagrams", in: n("Ip.InReceives"), inKnown: has("Ip.InReceives"),
		out: n("Ip.InDelivers") + n("Ip.ForwDatagrams"), outKnown: has("Ip.InReceives") && n("Ip.ReasmReqds") == 0}, "Ip.InReceives", in.ipDrops())
	add(&rx, row{st: stage.IPReassembly, point: "Ip.ReasmReqds (fragments) → ReasmOKs (datagrams)"}, "Ip.ReasmReqds",
		n("Ip.ReasmFails")+n("Ip6.ReasmFails"))
	add(&rx, row{st: stage.SocketLookup, point: "Udp.NoPorts"}, "Udp.InDatagrams", in.udp("NoPorts"))
	add(&rx, row{st: stage.UDPRcvbuf, point: "Udp.InDatagrams (read by applications)", out: in.udp("InDatagrams"), outKnown: has("Udp.InDatagrams")},
		"Udp.InDatagrams", in.udp("RcvbufErrors"))
	add(&rx, row{st: stage.UDPMem, point: "Udp.MemErrors, socket drops at the pool's limit"}, "Udp.InDatagrams", in.udpMemDrops())
	var tcpDrops uint64
	for _, k := range tcpRcvDropFields {
		tcpDrops += n("TcpExt." + k)
	}
	add(&rx, row{st: stage.TCPRcvbuf, point: "Tcp.InSegs", in: n("Tcp.InSegs"), inKnown: has("Tcp.InSegs")}, "Tcp.InSegs", tcpDrops)
	add(&rx, row{st: stage.TCPBacklog, point: "TcpExt.TCPBacklogDrop"}, "Tcp.InSegs", n("TcpExt.TCPBacklogDrop"))
	add(&rx, row{st: stage.TCPAcceptQueue, point: "Tcp.PassiveOpens", out: n("Tcp.PassiveOpens"), outKnown: has("Tcp.PassiveOpens")}, "Tcp.InSegs",
		max(n("TcpExt.ListenDrops"), n("TcpExt.ListenOverflows")+n("TcpExt.TCPReqQFullDrop")))
	add(&tx, row{st: stage.UDPSndbuf, point: "Udp.OutDatagrams", out: in.udp("OutDatagrams"), outKnown: has("Udp.OutDatagrams")},
		"Udp.InDatagrams", in.udp("SndbufErrors"))
	add(&tx, row{st: stage.IPOut, point: "Ip.OutRequests", in: n("Ip.OutRequests"), inKnown: has("Ip.OutRequests")}, "Ip.OutRequests",
		n("Ip.OutNoRoutes")+n("Ip.OutDiscards"))
	add(&tx, row{st: stage.Neigh, point: "neighbour table_fulls + unresolved_discards"}, "", in.neighDrops())
	return rx, tx
}

// ipDrops is every IP-layer drop counter of the receive path.
func (in *input) ipDrops() uint64 {
	n := in.snmp
	return n("Ip.InHdrErrors") + n("Ip.InAddrErrors") + n("IpExt.InNoRoutes") + n("Ip.InUnknownProtos") +
		n("Ip.InDiscards") + n("IpExt.InCsumErrors") + n("TcpExt.IPReversePathFilter")
}

// netfilterDrops is what conntrack and the firewall's counted DROP rules dropped.
func (in *input) netfilterDrops() uint64 {
	var n uint64
	if c := in.d.Conntrack; c != nil {
		n += max(c["drop"], c["insert_failed"])
	}
	if fw := in.d.Firewall; fw != nil {
		for _, r := range fw.Rules {
			if r.Drop && r.Counter {
				n += r.Packets
			}
		}
	}
	return n
}
