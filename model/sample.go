// Package sample holds the typed snapshot of a host's network counters and the delta between
// two snapshots. It does no I/O: readers in collect/ fill a Sample, policy/ reads a Delta.
package model

import (
	"time"

	"github.com/nettune/nettune/model/stage"
)

// Sample is one snapshot of everything nettune reads, taken from one network namespace.
type Sample struct {
	Time  time.Time `json:"time"`
	Netns string    `json:"netns,omitempty"` // name or path; "" is the namespace nettune runs in
	NCPU  int       `json:"ncpu"`

	Links      []Link            `json:"links"`
	Softnet    []SoftnetCPU      `json:"softnet"`    // host-wide, per online CPU
	NetRx      []uint64          `json:"net_rx"`     // /proc/softirqs NET_RX per CPU (index = CPU)
	SNMP       map[string]uint64 `json:"snmp"`       // "Udp.RcvbufErrors", "TcpExt.ListenOverflows", ... every field
	Interrupts []IRQ             `json:"interrupts"` // host-wide, only IRQs that belong to a link's queue
	Sysctls    map[string]string `json:"sysctls"`    // dotted key → value as the kernel prints it
	IRQBalance bool              `json:"irqbalance"` // an irqbalance daemon is running

	InPath *InPath `json:"in_path,omitempty"` // eBPF in-path counts; nil when not attached

	// UDPSockets are the UDP sockets of the namespace that have dropped datagrams, the
	// largest drop counts first and capped (kstat.ReadUDPSockets); nil when none has, in
	// samples taken before the field existed, or when the reader failed.
	UDPSockets []UDPSocket `json:"udp_sockets,omitempty"`

	// Firewall is the namespace's nftables ruleset with its rule counters (collect reads it
	// through netlink); nil in samples taken before the field existed or when nf_tables is
	// not in the kernel.
	Firewall *Firewall `json:"firewall,omitempty"`

	// Conntrack is /proc/net/stat/nf_conntrack of the namespace: each counter ("drop",
	// "early_drop", "insert_failed", ...) summed over the per-CPU rows, names as the running
	// kernel prints them. Counters only: the entry count is the nf_conntrack_count sysctl. Nil
	// without conntrack, in samples taken before the field existed, or when the reader failed.
	Conntrack map[string]uint64 `json:"conntrack,omitempty"`

	// Sockstat is /proc/net/sockstat and sockstat6 of the namespace (kstat.ReadSockstat): some
	// of its numbers are the namespace's, the memory pools are host-wide (see Sockstat). Nil in
	// samples taken before the field existed, or when the reader failed.
	Sockstat *Sockstat `json:"sockstat,omitempty"`

	// Neigh are the host's neighbour tables (/proc/net/stat/arp_cache and ndisc_cache, which
	// only the host namespace has), with the number of neighbours the sample's namespace holds
	// in each. Nil when neither was read.
	Neigh []NeighTable `json:"neigh,omitempty"`

	// TCPListeners are the listening TCP sockets of the namespace, fullest accept queue
	// first and capped (kstat.MaxTCPListeners); nil when there are none or the reader failed.
	TCPListeners []TCPListener `json:"tcp_listeners,omitempty"`

	// TCPRetrans are the TCP connections of the namespace that have retransmitted, most
	// retransmissions first and capped (kstat.MaxTCPRetrans), with their peers; nil when none
	// has or the reader failed.
	TCPRetrans []TCPConn `json:"tcp_retrans,omitempty"`

	// TCPDropping are the TCP connections of the namespace that have dropped segments (a
	// drop count above zero), most drops first and capped (kstat.MaxTCPDropping), with
	// their peers; nil when none has or the reader failed. TCPDroppingOmitted counts those
	// beyond the cap.
	TCPDropping        []TCPConn `json:"tcp_dropping,omitempty"`
	TCPDroppingOmitted int       `json:"tcp_dropping_omitted,omitempty"`

	// Errors lists readers that failed without failing the sample (one line each), so the
	// report can say which evidence is missing instead of silently lacking it.
	Errors []string `json:"errors,omitempty"`
}

// Link is one network interface with its counters and settings.
type Link struct {
	Name       string `json:"name"`
	Index      int    `json:"index"`
	Kind       string `json:"kind,omitempty"`   // rtnetlink kind: veth, bridge, ... "" for physical
	Driver     string `json:"driver,omitempty"` // ethtool driver name: ixgbe, virtio_net, veth
	OperUp     bool   `json:"oper_up"`
	MTU        int    `json:"mtu"`
	TxQueueLen int    `json:"txqueuelen"`
	NumRxQ     int    `json:"num_rx_queues"`
	NumTxQ     int    `json:"num_tx_queues"`
	// PeerIfindex is the other end of a veth (IFLA_LINK): its ifindex in the peer's
	// namespace; 0 for other kinds. PeerNetnsID is that namespace's nsid as this namespace
	// numbers it (IFLA_LINK_NETNSID), nil when the peer is in the same namespace. An nsid
	// means something only inside the namespace that assigned it: the pipeline pairs the
	// ends across a node's namespaces.
	PeerIfindex int    `json:"peer_ifindex,omitempty"`
	PeerNetnsID *int32 `json:"peer_netnsid,omitempty"`

	Stats LinkStats `json:"stats"`
	// Counters are the driver's ethtool -S values that nettune understands, normalized.
	Counters []Counter `json:"counters,omitempty"`

	Ring     *Ring     `json:"ring,omitempty"`     // nil when the driver has no ring ops (veth)
	Channels *Channels `json:"channels,omitempty"` // nil when unsupported
	Qdiscs   []Qdisc   `json:"qdiscs,omitempty"`
	RxQueues []RxQueue `json:"rx_queues,omitempty"` // RPS settings per RX queue
}

// LinkStats is rtnl_link_stats64 (the fields that matter for loss).
type LinkStats struct {
	RxPackets       uint64 `json:"rx_packets"`
	TxPackets       uint64 `json:"tx_packets"`
	RxBytes         uint64 `json:"rx_bytes"`
	TxBytes         uint64 `json:"tx_bytes"`
	RxErrors        uint64 `json:"rx_errors"`
	TxErrors        uint64 `json:"tx_errors"`
	RxDropped       uint64 `json:"rx_dropped"`
	TxDropped       uint64 `json:"tx_dropped"`
	RxLengthErrors  uint64 `json:"rx_length_errors"`
	RxOverErrors    uint64 `json:"rx_over_errors"`
	RxCrcErrors     uint64 `json:"rx_crc_errors"`
	RxFrameErrors   uint64 `json:"rx_frame_errors"`
	RxFifoErrors    uint64 `json:"rx_fifo_errors"`
	RxMissedErrors  uint64 `json:"rx_missed_errors"`
	TxAbortedErrors uint64 `json:"tx_aborted_errors"`
	TxCarrierErrors uint64 `json:"tx_carrier_errors"`
	TxFifoErrors    uint64 `json:"tx_fifo_errors"`
	RxNoHandler     uint64 `json:"rx_nohandler"`
}

// Kind says what a normalized driver counter counts.
type Kind string

const (
	KindPackets Kind = "packets" // packets that passed this point (throughput)
	KindDrops   Kind = "drops"   // packets lost at Stage
	KindEvents  Kind = "events"  // pressure or informational events, not loss by themselves
)

// Dir is the direction of a queue counter.
type Dir string

const (
	Rx Dir = "rx"
	Tx Dir = "tx"
)

// Counter is one driver ethtool counter mapped to a stage. Queue is -1 for device-wide counters.
type Counter struct {
	Name   string      `json:"name"` // the driver's own name, e.g. "rx_queue_3_drops"
	Stage  stage.Stage `json:"stage"`
	Kind   Kind        `json:"kind"`
	Dir    Dir         `json:"dir"`
	Queue  int         `json:"queue"`
	Value  uint64      `json:"value"`
	Wrap32 bool        `json:"wrap32,omitempty"` // hardware counter that wraps at 2^32
	// Policy: the counted drops were a configured decision, not a lack of capacity (a NIC's
	// steering miss, a cloud allowance: docs/drivers.md §2.1). A bool, not a class: it fits
	// in Wrap32's padding, and a sample holds tens of thousands of counters.
	Policy bool `json:"policy,omitempty"`
}

// Ring is ethtool -g: current and maximum ring sizes.
type Ring struct {
	Rx    uint32 `json:"rx"`
	Tx    uint32 `json:"tx"`
	RxMax uint32 `json:"rx_max"`
	TxMax uint32 `json:"tx_max"`
}

// Channels is ethtool -l.
type Channels struct {
	Rx          uint32 `json:"rx"`
	Tx          uint32 `json:"tx"`
	Combined    uint32 `json:"combined"`
	MaxRx       uint32 `json:"max_rx"`
	MaxTx       uint32 `json:"max_tx"`
	MaxCombined uint32 `json:"max_combined"`
}

// Qdisc is one qdisc of a link with its statistics.
type Qdisc struct {
	Kind       string `json:"kind"`   // pfifo_fast, fq_codel, mq, clsact, ...
	Handle     string `json:"handle"` // "1:" form; "" for handle 0
	Parent     string `json:"parent"` // "root", "ingress", "clsact" or "1:2"
	Root       bool   `json:"root"`
	Limit      uint32 `json:"limit,omitempty"`       // packets, when the qdisc has a packet limit
	LimitBytes uint32 `json:"limit_bytes,omitempty"` // bytes, when the limit is in bytes (bfifo, tbf)
	Rate       uint64 `json:"rate,omitempty"`        // shaping rate in bytes/s (tbf); 0 = none or unknown
	Packets    uint64 `json:"packets"`               // packets sent (dequeued)
	Bytes      uint64 `json:"bytes"`
	Drops      uint64 `json:"drops"`
	Overlimits uint64 `json:"overlimits"`
	Requeues   uint64 `json:"requeues"`
	Backlog    uint32 `json:"backlog"` // bytes queued now (gauge; tc's "backlog Nb")
	Qlen       uint32 `json:"qlen"`    // packets queued now (gauge; tc's "backlog Np")
	Wrap32     bool   `json:"wrap32,omitempty"`
}

// RxQueue holds the RPS settings of one receive queue.
type RxQueue struct {
	Queue      int    `json:"queue"`
	RPSCPUs    string `json:"rps_cpus"` // hex mask as sysfs prints it
	RPSFlowCnt uint32 `json:"rps_flow_cnt"`
}

// SoftnetCPU is one row of /proc/net/softnet_stat. Counters are 32-bit and wrap.
type SoftnetCPU struct {
	CPU            int    `json:"cpu"`
	Processed      uint32 `json:"processed"`
	Dropped        uint32 `json:"dropped"`
	TimeSqueeze    uint32 `json:"time_squeeze"`
	ReceivedRPS    uint32 `json:"received_rps"`
	FlowLimitCount uint32 `json:"flow_limit_count"`
	BacklogLen     uint32 `json:"backlog_len"` // gauge, 0 when the kernel does not print it
}

// IRQ is one /proc/interrupts line that belongs to a link's queue.
type IRQ struct {
	IRQ      int      `json:"irq"`
	Link     string   `json:"link"`
	Queue    int      `json:"queue"` // -1 when the line names the device but no queue
	Dir      Dir      `json:"dir,omitempty"`
	Name     string   `json:"name"`
	PerCPU   []uint64 `json:"per_cpu"`
	Affinity string   `json:"affinity,omitempty"` // smp_affinity_list
	Managed  bool     `json:"managed,omitempty"`  // kernel-managed (writes fail with EIO)
}

// UDPSocket is one UDP socket from /proc/net/udp{,6}, with its receive buffer from sock_diag.
type UDPSocket struct {
	Local   string `json:"local"` // "198.18.0.2:5353", "[::1]:53"
	Inode   uint64 `json:"inode"`
	Drops   uint64 `json:"drops"`    // datagrams the socket dropped (sk_drops; a counter)
	RcvBuf  uint32 `json:"rcvbuf"`   // sk_rcvbuf in bytes; 0 = unknown
	RxQueue uint32 `json:"rx_queue"` // bytes queued now (gauge)
	// RcvBufSet says whether the application fixed the receive buffer with SO_RCVBUF
	// (SOCK_RCVBUF_LOCK in sk_userlocks, read by a BPF socket iterator); nil = unknown,
	// never inferred from the buffer's size.
	RcvBufSet *bool `json:"rcvbuf_set,omitempty"`
}

// Sockstat holds /proc/net/sockstat{,6}. The kernel prints the socket and in-use counts,
// TIME_WAIT sockets and fragment queues of the reading namespace, but the orphan and
// allocated counts and both memory pools over the whole host (docs/rules.md §6), which is
// what tcp_mem and udp_mem, themselves host-wide, are compared with.
type Sockstat struct {
	Sockets     uint64 `json:"sockets"`      // sockets of the namespace, every family
	TCPInUse    uint64 `json:"tcp_inuse"`    // IPv4 TCP sockets of the namespace (listeners included)
	TCPOrphan   uint64 `json:"tcp_orphan"`   // host-wide: closed by the application, still sending
	TCPTimeWait uint64 `json:"tcp_tw"`       // TIME_WAIT sockets of the namespace
	TCPAlloc    uint64 `json:"tcp_alloc"`    // host-wide: TCP sockets allocated, both families
	TCPMem      uint64 `json:"tcp_mem"`      // host-wide, pages: what tcp_mem limits
	UDPInUse    uint64 `json:"udp_inuse"`    // IPv4 UDP sockets of the namespace
	UDPMem      uint64 `json:"udp_mem"`      // host-wide, pages: what udp_mem limits
	FragInUse   uint64 `json:"frag_inuse"`   // IPv4 reassembly queues of the namespace
	FragMemory  uint64 `json:"frag_memory"`  // bytes they hold: what ipfrag_high_thresh limits
	TCP6InUse   uint64 `json:"tcp6_inuse"`   // sockstat6, absent without IPv6
	UDP6InUse   uint64 `json:"udp6_inuse"`   //
	Frag6InUse  uint64 `json:"frag6_inuse"`  //
	Frag6Memory uint64 `json:"frag6_memory"` // bytes: what ip6frag_high_thresh limits
}

// WithHostWide returns a copy of s with the host-wide numbers of h.
func (s *Sockstat) WithHostWide(h *Sockstat) *Sockstat {
	c := *s
	c.TCPOrphan, c.TCPAlloc, c.TCPMem, c.UDPMem = h.TCPOrphan, h.TCPAlloc, h.TCPMem, h.UDPMem
	return &c
}

// NeighTable is one neighbour table of the host: arp_cache (IPv4) or ndisc_cache (IPv6).
// The kernel keeps one table per family for every namespace together, with one set of
// gc_thresh limits, so Entries and Counters are host-wide; NetnsEntries says how much of the
// table the sample's namespace holds.
type NeighTable struct {
	Name    string `json:"name"`    // the stat file's name: "arp_cache", "ndisc_cache"
	Entries uint64 `json:"entries"` // entries of every namespace now (gauge; permanent ones included)
	// Counters are the stat file's other columns, each summed over the CPUs, named as the
	// kernel prints them: allocs, destroys, hash_grows, lookups, hits, res_failed,
	// rcv_probes_mcast, rcv_probes_ucast, periodic_gc_runs, forced_gc_runs,
	// unresolved_discards, table_fulls.
	Counters map[string]uint64 `json:"counters"`
	// NetnsEntries are the neighbours of the sample's namespace in this table (an
	// RTM_GETNEIGH dump); nil when not read.
	NetnsEntries *NeighCount `json:"netns_entries,omitempty"`
}

// NeighCount counts the entries of one namespace in a neighbour table, by state.
type NeighCount struct {
	Total      int `json:"total"`
	Permanent  int `json:"permanent"`  // NUD_PERMANENT: outside what gc_thresh* limit
	Unresolved int `json:"unresolved"` // NUD_INCOMPLETE or NUD_FAILED: no answer (yet)
}

// TCPListener is one listening TCP socket (sock_diag).
type TCPListener struct {
	Local string `json:"local"`
	Inode uint64 `json:"inode"`
	// AcceptQueue is the connections waiting for accept() now (gauge); the queue is full
	// when it exceeds Backlog.
	AcceptQueue uint32 `json:"accept_queue"`
	// Backlog is the accept queue's limit, min(the listen() backlog, somaxconn) when the
	// application called listen(): raising somaxconn reaches it only if somaxconn was the
	// smaller, and only after the application listens again.
	Backlog uint32 `json:"backlog"`
	// RcvBufSet: the application set SO_RCVBUF on the listener (accepted sockets inherit
	// it); nil = unknown.
	RcvBufSet *bool `json:"rcvbuf_set,omitempty"`
	// Drops are the connection attempts the kernel refused on this listener since it was
	// created: its sk_drops, which tcp_listendrop counts with every ListenDrops (a full
	// accept queue, or a SYN the listener could not take). 0 where the kernel does not
	// report it.
	Drops uint64 `json:"drops,omitempty"`
}

// TCPConn is one TCP connection (sock_diag) with its retransmission state (tcp_info), or,
// in Sample.TCPDropping, its drops and receive buffer (sk_meminfo).
type TCPConn struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Inode  uint64 `json:"inode"` // 0 once the application closed it
	State  string `json:"state"` // "established", "fin-wait-1", ... as ss names them
	// TotalRetrans is the segments retransmitted over the connection's life (a counter).
	TotalRetrans uint32 `json:"total_retrans"`
	SegsOut      uint32 `json:"segs_out"` // segments sent, retransmissions included (a counter; 0 before 4.2)
	Retrans      uint32 `json:"retrans"`  // retransmitted segments not yet acknowledged (gauge)
	Lost         uint32 `json:"lost"`     // segments taken as lost now (gauge)
	RTT          uint32 `json:"rtt_us"`   // smoothed round-trip time, µs
	SndCwnd      uint32 `json:"snd_cwnd"` // congestion window, segments
	CC           string `json:"cc,omitempty"`
	// Drops are the segments the kernel discarded after finding this connection, since it
	// was created (sk_drops, a counter): every receive-queue, out-of-order and zero-window
	// drop or prune and every socket-backlog drop, but also duplicates and segments outside
	// the window. RcvBuf is the receive buffer, sk_rcvbuf (bytes, gauge); RcvBufSet says
	// whether the application fixed it with SO_RCVBUF, which ends its autotuning (nil =
	// unknown).
	Drops     uint64 `json:"drops,omitempty"`
	RcvBuf    uint32 `json:"rcvbuf,omitempty"`
	RcvBufSet *bool  `json:"rcvbuf_set,omitempty"`
}

// InPath carries the eBPF in-path counts (filled by bpf/ when probes are attached). The
// probes may count in several namespaces at once: points, drops and foreign programs carry
// their namespace's inode, and ForNetns keeps one namespace's view.
type InPath struct {
	XDPMode string        `json:"xdp_mode"` // "native", "generic" or "off", and why in Note
	Netns   uint64        `json:"netns"`    // inode of the namespace this view is about; 0 = every watched namespace
	Note    string        `json:"note,omitempty"`
	Points  []PointCount  `json:"points"`
	Drops   []DropCount   `json:"drops"`
	Foreign []ForeignProg `json:"foreign,omitempty"`
	// MapErrors counts failed map updates in the programs: attribution is incomplete if non-zero.
	MapErrors uint64 `json:"map_errors"`
	// Coverage says on how many of the links asked for the in-path programs count, and why
	// not on the rest; nil when only drops were traced.
	Coverage *Coverage `json:"coverage,omitempty"`
}

// Coverage is how much of what the probes were asked to watch they watch. A link is
// watched when every hook asked for counts on it (XDP only where the XDP mode attaches it).
type Coverage struct {
	Asked   int   `json:"asked"`   // links the probes were asked to count on
	Watched int   `json:"watched"` // links on which every requested hook counts
	Gaps    []Gap `json:"gaps,omitempty"`
	// PerNetns splits Asked and Watched by namespace (one entry per watched namespace).
	PerNetns []NetnsCoverage `json:"per_netns,omitempty"`
}

// NetnsCoverage is Coverage's count for one namespace.
type NetnsCoverage struct {
	Netns   uint64 `json:"netns"`
	Asked   int    `json:"asked"`
	Watched int    `json:"watched"`
}

// Partial reports whether some link asked for is not (fully) watched.
func (c *Coverage) Partial() bool { return c != nil && (c.Watched < c.Asked || len(c.Gaps) > 0) }

// Gap is one hook of one link that does not count, or a link or namespace that could not
// be watched at all (Hook "").
type Gap struct {
	Netns  uint64    `json:"netns,omitempty"` // inode; 0 when the namespace itself could not be opened
	Link   string    `json:"link,omitempty"`  // "" for a whole namespace
	Hook   string    `json:"hook,omitempty"`  // xdp, tc-ingress, tc-egress, xmit; "" for every hook
	Reason GapReason `json:"reason"`
	Detail string    `json:"detail,omitempty"` // the error or the program in the way
}

// GapReason says why a hook does not count (stable IDs, docs/schema.md).
type GapReason string

const (
	GapForeign      GapReason = "foreign-program" // someone else's XDP program holds the hook; never replaced
	GapAttachFailed GapReason = "attach-failed"   // the kernel refused the attachment
	GapLoadFailed   GapReason = "load-failed"     // the program could not be loaded
	GapMapFull      GapReason = "map-full"        // the link could not be registered in the programs' maps
	GapNotFound     GapReason = "not-found"       // the link or namespace does not exist (any more)
	GapAppeared     GapReason = "appeared"        // a namespace that appeared after the probes were attached
)

// ForNetns is the view of one namespace: its points, drops and foreign programs, and its
// coverage counted over its own links. Drops with no namespace known (netns 0) are kept too:
// policy may claim some of them by socket (policy.ownDrops). Exactly the namespace's own:
// a copy of (or room for) every point and drop in each of a node's 500 views was 500 × the
// node's (1 000 drop records diffed 500 times in an advise; docs/benchmarks.md).
func (ip *InPath) ForNetns(ino uint64) *InPath { return ip.NetnsViews()(ino) }

// NetnsViews indexes the whole view by namespace once and returns ForNetns from the index:
// a node takes a view for each of its namespaces, and filtering the whole view for each
// was 500 passes over every point of 1 000 links an interval.
func (ip *InPath) NetnsViews() func(ino uint64) *InPath {
	points, drops, foreign := positions(ip.Points, PointCount.netns), positions(ip.Drops, DropCount.netns), positions(ip.Foreign, ForeignProg.netns)
	var per map[uint64][]int
	var gaps map[uint64][]int
	if ip.Coverage != nil {
		per, gaps = positions(ip.Coverage.PerNetns, NetnsCoverage.netns), positions(ip.Coverage.Gaps, Gap.netns)
	}
	return func(ino uint64) *InPath {
		c := *ip
		c.Netns = ino
		unknown := drops[0]
		if ino == 0 {
			unknown = nil
		}
		c.Points = pick(ip.Points, points[ino], nil, true)
		c.Drops = pick(ip.Drops, drops[ino], unknown, true)
		c.Foreign = pick(ip.Foreign, foreign[ino], nil, false)
		if ip.Coverage != nil {
			cov := &Coverage{Gaps: pick(ip.Coverage.Gaps, gaps[ino], nil, false)}
			if at := per[ino]; len(at) > 0 {
				n := ip.Coverage.PerNetns[at[len(at)-1]]
				cov.Asked, cov.Watched, cov.PerNetns = n.Asked, n.Watched, []NetnsCoverage{n}
			}
			c.Coverage = cov
		}
		return &c
	}
}

// positions lists the indexes of all's elements by their namespace, ascending.
func positions[T any](all []T, netns func(T) uint64) map[uint64][]int {
	at := make(map[uint64][]int)
	for i := range all {
		n := netns(all[i])
		at[n] = append(at[n], i)
	}
	return at
}

// pick is the elements of all at the ascending positions a and b, in all's order, in a
// slice of exactly their size; with none, an empty slice when empty is set, else nil.
func pick[T any](all []T, a, b []int, empty bool) []T {
	if len(a)+len(b) == 0 {
		if empty {
			return []T{}
		}
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && a[0] < b[0] {
			out, a = append(out, all[a[0]]), a[1:]
		} else {
			out, b = append(out, all[b[0]]), b[1:]
		}
	}
	return out
}

func (p PointCount) netns() uint64    { return p.Netns }
func (d DropCount) netns() uint64     { return d.Netns }
func (f ForeignProg) netns() uint64   { return f.Netns }
func (n NetnsCoverage) netns() uint64 { return n.Netns }
func (g Gap) netns() uint64           { return g.Netns }

// Point is where an in-path program counts.
type Point string

const (
	PointXDP       Point = "xdp"        // driver receive, per RX queue
	PointTCIngress Point = "tc-ingress" // per RX queue (queue_mapping), GSO segments counted
	PointTCEgress  Point = "tc-egress"  // entering the qdisc layer
	PointXmit      Point = "xmit"       // driver hand-off, per TX queue
)

// PointCount is packets and bytes seen at one point of one link (and queue; -1 for all).
type PointCount struct {
	Point   Point  `json:"point"`
	Netns   uint64 `json:"netns"` // inode of the link's namespace
	Ifindex int    `json:"ifindex"`
	Link    string `json:"link"`
	Queue   int    `json:"queue"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// DropCount is kfree_skb drops for one (reason, netns, ifindex, location).
type DropCount struct {
	Reason   string `json:"reason"` // name from kernel BTF without the SKB_DROP_REASON_ prefix, or ReasonUnavailable
	Netns    uint64 `json:"netns"`  // netns inode
	Ifindex  int    `json:"ifindex"`
	Link     string `json:"link,omitempty"`
	Location string `json:"location"` // symbolized: function+0xoff
	Count    uint64 `json:"count"`
}

// ReasonUnavailable is the Reason of drops from a kernel without drop reasons (< 5.17): only
// the location is known, and some of those kfree_skb events are frees that are not drops.
const ReasonUnavailable = "REASON_UNAVAILABLE"

// ForeignProg is an XDP or tc program someone else attached; nettune counts around it.
type ForeignProg struct {
	Netns uint64 `json:"netns,omitempty"` // inode of the link's namespace
	Link  string `json:"link"`
	Hook  string `json:"hook"` // xdp, tc-ingress, tc-egress
	ID    uint32 `json:"id"`
	Name  string `json:"name"`
	Mode  string `json:"mode,omitempty"` // for XDP: native, generic, offload
}
