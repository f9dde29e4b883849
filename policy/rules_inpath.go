package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// where a kfree_skb drop reason proves loss, and what kind of loss it is.
type reasonStage struct {
	stage stage.Stage
	class stage.Class
}

var (
	capacity = func(s stage.Stage) reasonStage { return reasonStage{s, stage.ClassCapacity} }
	policy   = func(s stage.Stage) reasonStage { return reasonStage{s, stage.ClassPolicy} }
	benign   = func(s stage.Stage) reasonStage { return reasonStage{s, stage.ClassBenign} }
)

// reasonStages maps enum skb_drop_reason names (without SKB_DROP_REASON_) to stages. Names,
// not numbers: the numbers change between kernels (docs/rules.md §6).
var reasonStages = map[string]reasonStage{
	"NO_SOCKET": benign(stage.NoListener), "IP_NOPROTO": benign(stage.NoListener), "UNHANDLED_PROTO": benign(stage.NoListener),
	"SOCKET_RCVBUFF": capacity(stage.UDPRcvbuf), "PROTO_MEM": capacity(stage.UDPMem),
	"SOCKET_BACKLOG": capacity(stage.TCPBacklog),
	"TCP_ZEROWINDOW": capacity(stage.TCPRcvbuf), "TCP_OFO_DROP": capacity(stage.TCPRcvbuf), "TCP_OFO_QUEUE_PRUNE": capacity(stage.TCPRcvbuf),
	"TCP_LISTEN_OVERFLOW": capacity(stage.TCPAcceptQueue),
	"CPU_BACKLOG":         capacity(stage.Backlog), "FULL_RING": capacity(stage.RxRing),
	"QDISC_DROP": capacity(stage.Qdisc), "QDISC_OVERLIMIT": capacity(stage.Qdisc),
	"QDISC_CONGESTED": policy(stage.AQM), "CAKE_FLOOD": policy(stage.AQM), "FQ_BAND_LIMIT": policy(stage.AQM),
	"FQ_HORIZON_LIMIT": policy(stage.AQM), "FQ_FLOW_LIMIT": policy(stage.AQM), "DUALPI2_STEP_DROP": policy(stage.AQM),
	"FRAG_REASM_TIMEOUT": capacity(stage.IPReassembly), "FRAG_TOO_FAR": capacity(stage.IPReassembly), "DUP_FRAG": benign(stage.IPReassembly),
	"NETFILTER_DROP": policy(stage.PolicyDrop), reasonConntrack: capacity(stage.Netfilter), "IP_RPFILTER": policy(stage.PolicyDrop), "SOCKET_FILTER": policy(stage.PolicyDrop),
	"BPF_CGROUP_EGRESS": policy(stage.PolicyDrop), "SECURITY_HOOK": policy(stage.PolicyDrop), "XFRM_POLICY": policy(stage.PolicyDrop),
	"XDP":        policy(stage.XDP),
	"TC_INGRESS": policy(stage.TCIngress), "TC_CHAIN_NOTFOUND": policy(stage.TCIngress), "TC_RECLASSIFY_LOOP": policy(stage.TCIngress),
	"TC_COOKIE_ERROR": policy(stage.TCIngress), "TC_EGRESS": policy(stage.TCEgress),
	"IP_INNOROUTES": policy(stage.IP), "IP_INADDRERRORS": policy(stage.IP), "IP_INVALID_SOURCE": policy(stage.IP),
	"IP_LOCAL_SOURCE": policy(stage.IP), "IP_LOCALNET": policy(stage.IP), "IP_INVALID_DEST": policy(stage.IP),
	"OTHERHOST": benign(stage.IP), "UNICAST_IN_L2_MULTICAST": benign(stage.IP),
	"IP_CSUM": capacity(stage.IP), "IP_INHDR": capacity(stage.IP), "PKT_TOO_SMALL": capacity(stage.IP), "HDR_TRUNC": capacity(stage.IP),
	"UDP_CSUM": capacity(stage.IP), "TCP_CSUM": capacity(stage.IP), "ICMP_CSUM": capacity(stage.IP), "SKB_CSUM": capacity(stage.IP),
	"IP_OUTNOROUTES": policy(stage.IPOut), "PKT_TOO_BIG": policy(stage.IPOut), "NEIGH_FAILED": policy(stage.IPOut),
	"NEIGH_DEAD": policy(stage.IPOut), "NEIGH_CREATEFAIL": policy(stage.IPOut), "NEIGH_QUEUEFULL": capacity(stage.IPOut),
}

// stageOfReason classifies one drop. Socket-memory reasons depend on the protocol, which the
// location (function name) tells; other TCP_* reasons are protocol checks (old, duplicate or
// out-of-window segments), normal during retransmission.
func stageOfReason(reason, location string) (reasonStage, bool) {
	tcp := strings.HasPrefix(location, "tcp") || strings.Contains(location, "_tcp")
	switch {
	case tcp && (reason == "SOCKET_RCVBUFF" || reason == "PROTO_MEM"):
		return capacity(stage.TCPRcvbuf), true
	}
	if r, ok := reasonStages[reason]; ok {
		return r, true
	}
	if strings.HasPrefix(reason, "TCP_") {
		return benign(stage.TCPRcvbuf), true
	}
	return reasonStage{}, false
}

// deviceStage: findings at these stages belong to one interface; the others are netns-wide
// (backlog is per CPU).
func deviceStage(s stage.Stage) bool {
	switch s {
	case stage.NICPhy, stage.NICFifo, stage.RxRing, stage.XDP, stage.TCIngress, stage.TCEgress,
		stage.Qdisc, stage.AQM, stage.TxRing, stage.NICTx:
		return true
	}
	return false
}

// inPathRules attaches kfree_skb drop reasons to the counter findings they confirm, makes
// findings for reasons no counter shows, and reports XDP program drops (policy).
func inPathRules(e *engine) {
	xdpCounters(e)
	ip := e.d.InPath
	if ip == nil {
		return
	}
	if ip.MapErrors > 0 {
		e.r.Missing = append(e.r.Missing, fmt.Sprintf("in-path: %d failed map updates, drop attribution is incomplete", ip.MapErrors))
	}
	foreignXDP(e, ip)
	for _, p := range ip.Foreign {
		if p.Hook != "xdp" {
			e.addAdvice(fmt.Sprintf("%s: foreign %s program %q (id %d) is attached: its drops are policy, counted as %s", p.Link, p.Hook, p.Name, p.ID, p.Hook))
		}
	}
	reasons(e, ip)
}

// reasonConntrack marks NETFILTER_DROP events that a conntrack finding accounts for.
const reasonConntrack = "NETFILTER_DROP (conntrack)"

// conntrackShare: a full conntrack table drops with reason NETFILTER_DROP, the same reason
// and location (nf_hook_slow) as a firewall rule's drop. Up to the drops the conntrack
// counters show, those events confirm the conntrack finding; the rest stay policy drops.
func conntrackShare(e *engine, drops []model.DropCount) []model.DropCount {
	var budget uint64
	for _, f := range e.findings(func(f *Finding) bool { return f.Stage == stage.Netfilter && f.Class == stage.ClassCapacity }) {
		budget += uint64(f.DropRate*e.d.Interval.Seconds() + 0.5)
	}
	if budget == 0 {
		return drops
	}
	out := make([]model.DropCount, 0, len(drops)+1)
	for _, dc := range drops {
		if dc.Reason != "NETFILTER_DROP" || budget == 0 {
			out = append(out, dc)
			continue
		}
		ct := dc
		ct.Reason, ct.Count = reasonConntrack, min(dc.Count, budget)
		budget -= ct.Count
		out = append(out, ct)
		if rest := dc.Count - ct.Count; rest > 0 {
			dc.Count = rest
			out = append(out, dc)
		}
	}
	return out
}

// reasonKey groups drops that land in one finding.
type reasonKey struct {
	rs    reasonStage
	iface string
}

func reasons(e *engine, ip *model.InPath) {
	groups := map[reasonKey][]model.DropCount{}
	var keys []reasonKey
	unmapped := map[string]uint64{}
	var unnamed []model.DropCount
	for _, dc := range conntrackShare(e, ip.Drops) {
		if dc.Reason == model.ReasonUnavailable {
			unnamed = append(unnamed, dc)
			continue
		}
		rs, ok := stageOfReason(dc.Reason, dc.Location)
		if !ok {
			unmapped[dc.Reason] += dc.Count
			continue
		}
		k := reasonKey{rs: rs}
		if deviceStage(rs.stage) {
			k.iface = dc.Link
			if k.iface == "" {
				k.iface = e.linkName(dc.Ifindex)
			}
		}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], dc)
	}
	for _, k := range keys {
		attachReasons(e, k, groups[k])
	}
	if len(unmapped) > 0 {
		names := make([]string, 0, len(unmapped))
		for r := range unmapped {
			names = append(names, fmt.Sprintf("%s %.1f/s", r, e.rate(unmapped[r])))
		}
		sort.Strings(names)
		e.r.Missing = append(e.r.Missing, "in-path drop reasons without a stage: "+strings.Join(names, ", "))
	}
	unnamedLocations(e, unnamed)
}

// maxLocations bounds the locations listed for drops without a reason.
const maxLocations = 5

// unnamedLocations lists where a kernel without drop reasons (< 5.17) freed packets. They
// make no finding: some of those kfree_skb calls free packets that were not dropped, so the
// counters give the verdict and the locations are only evidence of where to look.
func unnamedLocations(e *engine, dcs []model.DropCount) {
	byLoc := map[string]uint64{}
	for _, dc := range dcs {
		byLoc[dc.Location] += dc.Count
	}
	if len(byLoc) == 0 {
		return
	}
	locs := make([]string, 0, len(byLoc))
	for l := range byLoc {
		locs = append(locs, l)
	}
	sort.Slice(locs, func(i, j int) bool {
		if byLoc[locs[i]] != byLoc[locs[j]] {
			return byLoc[locs[i]] > byLoc[locs[j]]
		}
		return locs[i] < locs[j]
	})
	var parts []string
	for _, l := range locs[:min(len(locs), maxLocations)] {
		parts = append(parts, fmt.Sprintf("%s %.1f/s", l, e.rate(byLoc[l])))
	}
	if n := len(locs) - maxLocations; n > 0 {
		parts = append(parts, fmt.Sprintf("%d more", n))
	}
	e.r.Missing = append(e.r.Missing, "drop reasons (this kernel has none; kfree_skb locations, some of them not drops): "+strings.Join(parts, ", "))
}

func attachReasons(e *engine, k reasonKey, dcs []model.DropCount) {
	var total uint64
	byReason := map[[2]string]uint64{}
	for _, dc := range dcs {
		total += dc.Count
		byReason[[2]string{dc.Reason, dc.Location}] += dc.Count
	}
	drs := make([]DropReason, 0, len(byReason))
	for rl, n := range byReason {
		drs = append(drs, DropReason{Reason: rl[0], Location: rl[1], Count: n, Rate: e.rate(n)})
	}
	sort.Slice(drs, func(i, j int) bool {
		if drs[i].Count != drs[j].Count {
			return drs[i].Count > drs[j].Count
		}
		return drs[i].Reason+drs[i].Location < drs[j].Reason+drs[j].Location
	})

	// The counter finding this confirms: same stage and class, same interface for device
	// stages; with several (backlog per CPU) the one that lost most.
	var target *Finding
	for _, f := range e.findings(func(f *Finding) bool {
		return f.Stage == k.rs.stage && f.Class == k.rs.class && (k.iface == "" || f.Interface == k.iface)
	}) {
		if target == nil || f.DropRate > target.DropRate {
			target = f
		}
	}
	if target != nil {
		counted := target.DropRate * e.d.Interval.Seconds()
		e.attributed += float64(total)
		e.counted += counted
		x := Evidence{Counter: "kfree_skb " + drs[0].Reason, Delta: total, Rate: e.rate(total)}
		if counted > 0 {
			x.Note = fmt.Sprintf("in-path drops ÷ counter drops = %.3f (counters are the totals; in-path attributes them)", float64(total)/counted)
		}
		target.Evidence = append(target.Evidence, x)
		target.Reasons = append(target.Reasons, drs...)
		return
	}

	through, of, known := e.stageThroughput(k.rs.stage, k.iface)
	f := e.add(obs{stage: k.rs.stage, class: k.rs.class, iface: k.iface, hostWide: k.rs.stage == stage.Backlog,
		drops: total, through: through, of: of, noRatio: !known,
		summary:  fmt.Sprintf("the kernel dropped packets with reason %s at stage %s and no counter nettune reads shows them", drs[0].Reason, k.rs.stage),
		evidence: []Evidence{e.ev("kfree_skb "+drs[0].Reason, total, of, through)}})
	if f != nil {
		f.Reasons = drs
	}
}

// stageThroughput is the packet count a stage's drops are a share of.
func (e *engine) stageThroughput(s stage.Stage, iface string) (uint64, string, bool) {
	if deviceStage(s) {
		l := e.d.Link(iface)
		if l == nil {
			return 0, "", false
		}
		if s.Transmit() {
			return l.Stats.TxPackets, iface + " tx_packets", true
		}
		return l.Stats.RxPackets, iface + " rx_packets", true
	}
	key := map[stage.Stage]string{
		stage.Backlog: "Ip.InReceives", stage.IP: "Ip.InReceives", stage.PolicyDrop: "Ip.InReceives",
		stage.Netfilter: "Ip.InReceives", stage.IPReassembly: "Ip.ReasmReqds", stage.IPOut: "Ip.OutRequests",
		stage.UDPRcvbuf: "Udp.InDatagrams", stage.UDPMem: "Udp.InDatagrams", stage.NoListener: "Udp.InDatagrams",
		stage.UDPSndbuf: "Udp.OutDatagrams", stage.TCPRcvbuf: "Tcp.InSegs", stage.TCPBacklog: "Tcp.InSegs",
		stage.TCPAcceptQueue: "Tcp.PassiveOpens",
	}[s]
	n, ok := e.d.SNMP[key]
	return n, key, ok && key != ""
}

// xdpCounters: driver XDP drop counters (veth rx_queue_N_xdp_drops, mlx5 rxN_xdp_drop) are
// program verdicts: policy, never planned (docs/rules.md row 2).
func xdpCounters(e *engine) {
	for i := range e.d.Links {
		l := &e.d.Links[i]
		drops, perQ := stageDrops(l, stage.XDP)
		if drops == 0 {
			continue
		}
		of := l.Name + " rx_packets"
		ev := e.counterEvidence(l, stage.XDP, model.KindDrops, of, l.Stats.RxPackets)
		qev, q := e.queueSkew(l, perQ, model.Rx)
		if f := e.add(obs{stage: stage.XDP, class: stage.ClassPolicy, iface: l.Name, drops: drops, through: l.Stats.RxPackets, of: of,
			summary:  fmt.Sprintf("an XDP program on %s dropped packets (XDP_DROP/ABORTED or failed XDP_TX/REDIRECT): a program decision, not capacity", l.Name),
			evidence: append(ev, qev...)}); f != nil {
			f.Queue = q
		}
	}
}

// foreignXDP: where someone else's XDP program runs, packets counted at the XDP point but
// not at tc ingress were consumed by that program (dropped, redirected or sent back).
func foreignXDP(e *engine, ip *model.InPath) {
	for _, p := range ip.Foreign {
		if p.Hook != "xdp" {
			continue
		}
		xdp, tc := e.pointsByQueue(p.Link, model.PointXDP), e.pointsByQueue(p.Link, model.PointTCIngress)
		if len(xdp) == 0 || len(tc) == 0 {
			e.addAdvice(fmt.Sprintf("%s: foreign XDP program %q (id %d) is attached; its drops show only in driver XDP counters here", p.Link, p.Name, p.ID))
			continue
		}
		var gap, in uint64
		var ev []Evidence
		for _, q := range sortedKeys(xdp) {
			in += xdp[q]
			if xdp[q] > tc[q] {
				d := xdp[q] - tc[q]
				gap += d
				x := e.ev(fmt.Sprintf("%s queue %d xdp − tc-ingress", p.Link, q), d, fmt.Sprintf("%s queue %d xdp", p.Link, q), xdp[q]-d)
				ev = append(ev, x)
			}
		}
		if f := e.add(obs{stage: stage.XDP, class: stage.ClassPolicy, iface: p.Link, drops: gap, through: in - gap, of: p.Link + " xdp point",
			summary:  fmt.Sprintf("foreign XDP program %q (id %d, %s) on %s consumed packets before the stack (dropped, redirected or bounced): a program decision, not capacity", p.Name, p.ID, p.Mode, p.Link),
			evidence: ev}); f != nil {
			e.addAdvice(f.ID + ": ask the owner of XDP program " + p.Name + " whether these drops are intended; nettune does not tune around programs")
		}
	}
}

// pointsByQueue is the in-path packets at point pt of link per queue, from an index built on
// first use: the funnel asks for every link and queue, and a scan of all points each time
// was quadratic in the number of links.
func (e *engine) pointsByQueue(link string, pt model.Point) map[int]uint64 {
	if e.points == nil {
		e.points = map[linkPoint]map[int]uint64{}
		if ip := e.d.InPath; ip != nil {
			for _, x := range ip.Points {
				k := linkPoint{x.Link, x.Point}
				if e.points[k] == nil {
					e.points[k] = map[int]uint64{}
				}
				e.points[k][x.Queue] += x.Packets
			}
		}
	}
	return e.points[linkPoint{link, pt}]
}

type linkPoint struct {
	link  string
	point model.Point
}

func sortedKeys(m map[int]uint64) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
