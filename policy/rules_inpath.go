package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nettune/nettune/model"
	"github.com/nettune/nettune/model/stage"
)

// reasonPlace is where a kfree_skb drop reason proves loss, and the class its name implies
// when no counter of that place knows better.
type reasonPlace struct {
	stage stage.Stage
	class stage.Class
	sub   string // the part of the stage; "" = any part (reconcile joins it to the counters there)
}

func capacityAt(s stage.Stage, sub string) reasonPlace {
	return reasonPlace{s, stage.ClassCapacity, sub}
}
func policyAt(s stage.Stage, sub string) reasonPlace { return reasonPlace{s, stage.ClassPolicy, sub} }
func benignAt(s stage.Stage, sub string) reasonPlace { return reasonPlace{s, stage.ClassBenign, sub} }

// reasonPlaces maps enum skb_drop_reason names (without SKB_DROP_REASON_) to places. Names,
// not numbers: the numbers change between kernels (docs/rules.md §6). Reasons whose place
// depends on the protocol are in placeOfReason.
var reasonPlaces = map[string]reasonPlace{
	"IP_NOPROTO": benignAt(stage.IP, "noproto"), "UNHANDLED_PROTO": benignAt(stage.IP, "unhandled"),
	"SOCKET_BACKLOG": capacityAt(stage.TCPBacklog, ""),
	"TCP_ZEROWINDOW": capacityAt(stage.TCPRcvbuf, ""), "TCP_OFO_DROP": capacityAt(stage.TCPRcvbuf, ""),
	"TCP_OFO_QUEUE_PRUNE": capacityAt(stage.TCPRcvbuf, ""),
	"TCP_LISTEN_OVERFLOW": capacityAt(stage.TCPAcceptQueue, ""),
	"CPU_BACKLOG":         capacityAt(stage.Backlog, ""), "FULL_RING": capacityAt(stage.RxRing, ""),
	"QDISC_DROP": capacityAt(stage.Qdisc, ""), "QDISC_OVERLIMIT": capacityAt(stage.Qdisc, ""),
	"QDISC_CONGESTED": policyAt(stage.Qdisc, ""), "CAKE_FLOOD": policyAt(stage.Qdisc, ""),
	"FQ_BAND_LIMIT": policyAt(stage.Qdisc, ""), "FQ_HORIZON_LIMIT": policyAt(stage.Qdisc, ""),
	"FQ_FLOW_LIMIT": policyAt(stage.Qdisc, ""), "DUALPI2_STEP_DROP": policyAt(stage.Qdisc, ""),
	"FRAG_REASM_TIMEOUT": capacityAt(stage.IPReassembly, ""), "FRAG_TOO_FAR": capacityAt(stage.IPReassembly, ""),
	"DUP_FRAG":       benignAt(stage.IPReassembly, "duplicate"),
	"NETFILTER_DROP": policyAt(stage.Netfilter, ""),
	"IP_RPFILTER":    policyAt(stage.IP, "rp-filter"), "XFRM_POLICY": policyAt(stage.IP, "xfrm"),
	"BPF_CGROUP_EGRESS": policyAt(stage.IPOut, "cgroup-bpf"),
	"XDP":               policyAt(stage.XDP, ""),
	"TC_INGRESS":        policyAt(stage.TCIngress, ""), "TC_CHAIN_NOTFOUND": policyAt(stage.TCIngress, ""),
	"TC_RECLASSIFY_LOOP": policyAt(stage.TCIngress, ""), "TC_COOKIE_ERROR": policyAt(stage.TCIngress, ""),
	"TC_EGRESS":     policyAt(stage.TCEgress, ""),
	"IP_INNOROUTES": policyAt(stage.IP, "routing"), "IP_INADDRERRORS": policyAt(stage.IP, "routing"),
	"IP_INVALID_SOURCE": policyAt(stage.IP, "routing"), "IP_LOCAL_SOURCE": policyAt(stage.IP, "routing"),
	"IP_LOCALNET": policyAt(stage.IP, "routing"), "IP_INVALID_DEST": policyAt(stage.IP, "routing"),
	"OTHERHOST": benignAt(stage.IP, "otherhost"), "UNICAST_IN_L2_MULTICAST": benignAt(stage.IP, "otherhost"),
	"IP_CSUM": capacityAt(stage.IP, "headers"), "IP_INHDR": capacityAt(stage.IP, "headers"),
	"PKT_TOO_SMALL": capacityAt(stage.IP, "headers"), "HDR_TRUNC": capacityAt(stage.IP, "headers"),
	"UDP_CSUM": capacityAt(stage.IP, "headers"), "TCP_CSUM": capacityAt(stage.IP, "headers"),
	"ICMP_CSUM": capacityAt(stage.IP, "headers"), "SKB_CSUM": capacityAt(stage.IP, "headers"),
	"IP_OUTNOROUTES": policyAt(stage.IPOut, "routing"), "PKT_TOO_BIG": policyAt(stage.IPOut, "mtu"),
	"NEIGH_FAILED": policyAt(stage.Neigh, "unresolved"), "NEIGH_DEAD": policyAt(stage.Neigh, "unresolved"),
	"NEIGH_CREATEFAIL": capacityAt(stage.Neigh, "table"), "NEIGH_QUEUEFULL": capacityAt(stage.Neigh, "queue"),
}

// placeOfReason places one drop. Some reasons depend on the protocol, which the location
// (function name) tells: socket memory, a closed port, a socket filter or security hook.
// Other TCP_* reasons are protocol checks (old, duplicate or out-of-window segments), normal
// during retransmission.
func placeOfReason(reason, location string) (reasonPlace, bool) {
	tcp := strings.HasPrefix(location, "tcp") || strings.Contains(location, "_tcp")
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	switch reason {
	case "SOCKET_RCVBUFF":
		if tcp {
			return capacityAt(stage.TCPRcvbuf, ""), true
		}
		return capacityAt(stage.UDPRcvbuf, ""), true
	case "PROTO_MEM":
		if tcp {
			return capacityAt(stage.TCPRcvbuf, ""), true
		}
		return capacityAt(stage.UDPMem, ""), true
	case "NO_SOCKET":
		return benignAt(stage.SocketLookup, proto), true
	case "SOCKET_FILTER", "SECURITY_HOOK":
		// a socket's BPF filter or an LSM refused the packet at the socket's receive
		st := stage.UDPRcvbuf
		if tcp {
			st = stage.TCPRcvbuf
		}
		return policyAt(st, "filter"), true
	}
	if r, ok := reasonPlaces[reason]; ok {
		return r, true
	}
	if strings.HasPrefix(reason, "TCP_") {
		return benignAt(stage.TCPRcvbuf, "protocol"), true
	}
	return reasonPlace{}, false
}

// deviceStage: drops at these stages belong to one interface; the others are netns-wide
// (backlog is per CPU).
func deviceStage(s stage.Stage) bool {
	switch s {
	case stage.NICPhy, stage.NICFifo, stage.RxRing, stage.XDP, stage.TCIngress, stage.TCEgress,
		stage.Qdisc, stage.TxRing, stage.NICTx:
		return true
	}
	return false
}

// reasonRule: the in-path drop reasons (docs/rules.md §8.4), each group at its place with the
// class its name implies. reconcile joins them to the counters that saw the same drops.
func reasonRule(in *input) output {
	var out output
	ip := in.d.InPath
	if ip == nil {
		return out
	}
	if ip.MapErrors > 0 {
		out.missing = append(out.missing, fmt.Sprintf("in-path: %d failed map updates, drop attribution is incomplete", ip.MapErrors))
	}
	for _, p := range ip.Foreign {
		if p.Hook != "xdp" {
			out.advice = append(out.advice, fmt.Sprintf("%s: foreign %s program %q (id %d) is attached: its drops are policy, counted as %s", p.Link, p.Hook, p.Name, p.ID, p.Hook))
		}
	}
	type key struct {
		rp    reasonPlace
		iface string
	}
	groups := map[key][]model.DropCount{}
	unmapped := map[string]uint64{}
	var unnamed []model.DropCount
	for _, dc := range ip.Drops {
		if dc.Reason == model.ReasonUnavailable {
			unnamed = append(unnamed, dc)
			continue
		}
		rp, ok := placeOfReason(dc.Reason, dc.Location)
		if !ok {
			unmapped[dc.Reason] += dc.Count
			continue
		}
		k := key{rp: rp}
		if deviceStage(rp.stage) {
			k.iface = dc.Link
			if k.iface == "" {
				k.iface = in.linkName(dc.Ifindex)
			}
		}
		groups[k] = append(groups[k], dc)
	}
	for k, dcs := range groups {
		rows := in.reasonRows(dcs)
		var total uint64
		for _, r := range rows {
			total += r.Count
		}
		p := place{stage: k.rp.stage, iface: k.iface, sub: k.rp.sub, hostWide: k.rp.stage == stage.Backlog}
		out.obs = append(out.obs, obs{place: p, class: k.rp.class, source: sourceReason, drops: total, base: in.stageBase(p),
			reasons: rows,
			summary: fmt.Sprintf("the kernel dropped packets with reason %s at stage %s and no counter nettune reads shows them", rows[0].Reason, k.rp.stage)})
	}
	if len(unmapped) > 0 {
		names := make([]string, 0, len(unmapped))
		for r := range unmapped {
			names = append(names, fmt.Sprintf("%s %.1f/s", r, in.rate(unmapped[r])))
		}
		sort.Strings(names)
		out.missing = append(out.missing, "in-path drop reasons without a stage: "+strings.Join(names, ", "))
	}
	if s := in.unnamedLocations(unnamed); s != "" {
		out.missing = append(out.missing, s)
	}
	return out
}

// reasonRows sums drops by reason and location, the largest first.
func (in *input) reasonRows(dcs []model.DropCount) []DropReason {
	byReason := map[[2]string]uint64{}
	for _, dc := range dcs {
		byReason[[2]string{dc.Reason, dc.Location}] += dc.Count
	}
	drs := make([]DropReason, 0, len(byReason))
	for rl, n := range byReason {
		drs = append(drs, DropReason{Reason: rl[0], Location: rl[1], Count: n, Rate: in.rate(n)})
	}
	sort.Slice(drs, func(i, j int) bool {
		if drs[i].Count != drs[j].Count {
			return drs[i].Count > drs[j].Count
		}
		return drs[i].Reason+drs[i].Location < drs[j].Reason+drs[j].Location
	})
	return drs
}

// maxLocations bounds the locations listed for drops without a reason.
const maxLocations = 5

// unnamedLocations lists where a kernel without drop reasons (< 5.17) freed packets. They
// make no finding: some of those kfree_skb calls free packets that were not dropped, so the
// counters give the verdict and the locations are only evidence of where to look.
func (in *input) unnamedLocations(dcs []model.DropCount) string {
	byLoc := map[string]uint64{}
	for _, dc := range dcs {
		byLoc[dc.Location] += dc.Count
	}
	if len(byLoc) == 0 {
		return ""
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
		parts = append(parts, fmt.Sprintf("%s %.1f/s", l, in.rate(byLoc[l])))
	}
	if n := len(locs) - maxLocations; n > 0 {
		parts = append(parts, fmt.Sprintf("%d more", n))
	}
	return "drop reasons (this kernel has none; kfree_skb locations, some of them not drops): " + strings.Join(parts, ", ")
}

// xdpRule: driver XDP drop counters (veth rx_queue_N_xdp_drops, mlx5 rxN_xdp_drop) are
// program verdicts, and where someone else's XDP program runs, packets counted at the XDP
// point but not at tc ingress were consumed by it: policy, never planned (docs/rules.md row 2).
func xdpRule(in *input) output {
	var out output
	for i := range in.d.Links {
		l := &in.d.Links[i]
		drops, perQ := stageDrops(in.counters(i), stage.XDP)
		if drops == 0 {
			continue
		}
		p := place{stage: stage.XDP, iface: l.Name}
		b := in.stageBase(p)
		qev, q := in.queueSkew(l, perQ, model.Rx)
		out.obs = append(out.obs, obs{place: p, class: stage.ClassPolicy, source: sourceCounter, covers: true, drops: drops, base: b, queue: q,
			summary:  fmt.Sprintf("an XDP program on %s dropped packets (XDP_DROP/ABORTED or failed XDP_TX/REDIRECT): a program decision, not capacity", l.Name),
			evidence: append(in.counterEvidence(l, stage.XDP, model.KindDrops, stage.ClassCapacity, b, drops), qev...)})
	}
	if ip := in.d.InPath; ip != nil {
		for _, p := range ip.Foreign {
			if p.Hook == "xdp" {
				out.add(foreignXDP(in, p, &out))
			}
		}
	}
	return out
}

// foreignXDP: the packets someone else's XDP program consumed (dropped, redirected or sent
// back) are the difference between the XDP and the tc ingress points.
func foreignXDP(in *input, p model.ForeignProg, out *output) *obs {
	xdp, tc := in.pointsByQueue(p.Link, model.PointXDP), in.pointsByQueue(p.Link, model.PointTCIngress)
	if len(xdp) == 0 || len(tc) == 0 {
		out.advice = append(out.advice, fmt.Sprintf("%s: foreign XDP program %q (id %d) is attached; its drops show only in driver XDP counters here", p.Link, p.Name, p.ID))
		return nil
	}
	var gap, seen uint64
	var ev []Evidence
	for _, q := range sortedKeys(xdp) {
		seen += xdp[q]
		if xdp[q] > tc[q] {
			d := xdp[q] - tc[q]
			gap += d
			ev = append(ev, in.ev(fmt.Sprintf("%s queue %d xdp − tc-ingress", p.Link, q), d,
				reachedBase(fmt.Sprintf("%s queue %d xdp", p.Link, q), xdp[q]), d))
		}
	}
	if gap == 0 {
		return nil
	}
	pl := place{stage: stage.XDP, iface: p.Link}
	o := &obs{place: pl, class: stage.ClassPolicy, source: sourceCounter, drops: gap, base: reachedBase(p.Link+" xdp point", seen),
		evidence: ev,
		summary:  fmt.Sprintf("foreign XDP program %q (id %d, %s) on %s consumed packets before the stack (dropped, redirected or bounced): a program decision, not capacity", p.Name, p.ID, p.Mode, p.Link)}
	o.say(always(in.id(pl) + ": ask the owner of XDP program " + p.Name + " whether these drops are intended; nettune does not tune around programs"))
	return o
}

func sortedKeys(m map[int]uint64) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
