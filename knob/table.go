package knob

import (
	"math"

	"github.com/nettune/nettune/model"
)

// Use is what nettune does with a knob.
type Use uint8

const (
	Tune     Use = iota + 1 // proposed, written by apply, journaled and rolled back
	Advise                  // proposed with a command for a person to run; apply never writes it
	ReadOnly                // read as evidence (collect reads every sysctl row); never proposed
)

func (u Use) String() string {
	return [...]string{"", "tune", "advise", "read-only"}[u]
}

// Access is how a knob is read and written; knob/live implements one backend per access,
// and Command prints each one's shell equivalent.
type Access uint8

const (
	AccessSysctl          Access = iota + 1 // /proc/sys through go-sysctl, from a thread inside the knob's netns
	AccessQueueFile                         // /sys/class/net/<if>/queues/rx-<n>/<File>, in the netns's own sysfs
	AccessIRQFile                           // /proc/irq/<n>/<File>
	AccessEthtoolRing                       // ethtool ring ioctls (ethtool -g / -G)
	AccessEthtoolChannels                   // ethtool channel ioctls (ethtool -l / -L); advice only
	AccessLinkTxQLen                        // rtnetlink link attribute (ip link set … txqueuelen)
	AccessQdisc                             // rtnetlink qdisc change of a pfifo/bfifo (tc qdisc change)
)

func (a Access) String() string {
	return [...]string{"", "sysctl", "sysfs queue file", "procfs IRQ file", "ethtool ring",
		"ethtool channels", "netlink link", "netlink qdisc"}[a]
}

// Unit is what a knob's value counts, and so how it is parsed and compared.
type Unit string

const (
	Packets      Unit = "packets"
	Bytes        Unit = "bytes"
	Pages        Unit = "pages" // of the kernel's page size (4 KiB on x86 and most arm64)
	Entries      Unit = "entries"
	Queues       Unit = "queues"
	Descriptors  Unit = "descriptors"
	Microseconds Unit = "µs"
	Seconds      Unit = "s"
	CPUMask      Unit = "cpu mask" // hex, 32-bit groups separated by commas
	CPUList      Unit = "cpu list" // "0-3,8"
	Mode         Unit = "mode"     // an enumerated setting (0, 1, 2)
	Name         Unit = "name"     // a word (default_qdisc)
)

// Ordered reports whether values of u have a size. CPU sets, modes and names do not: moving
// work between CPUs is neither more nor less, so steps, caps and "never lower" do not apply.
func (u Unit) Ordered() bool {
	switch u {
	case CPUMask, CPUList, Mode, Name:
		return false
	}
	return true
}

// Numeric reports whether values of u are whitespace-separated integers.
func (u Unit) Numeric() bool { return u.Ordered() || u == Mode }

// Phase is a knob's place in the plan: lower stages first, because loss there hides demand
// higher up (docs/rules.md, plan order).
type Phase uint8

const (
	NoPhase           Phase = iota
	PhaseDistribution       // spread receive work over CPUs: channels, IRQ affinity, RPS
	PhaseBudget             // softirq budget
	PhaseRing               // RX ring
	PhaseBacklog            // per-CPU backlog
	PhaseL3                 // reassembly, conntrack, neighbours
	PhaseSocket             // per-socket sizes, then memory pools
	PhaseTX                 // transmit queues
)

func (p Phase) String() string {
	return [...]string{"", "distribution", "budget", "ring", "backlog", "l3", "socket", "tx"}[p]
}

// RaiseAll is Row.Raise for pool sysctls: every threshold scales with the last field.
const RaiseAll = -1

// Row is every fact about one knob: one row per sysctl, per ring direction, and per other
// kind.
type Row struct {
	Kind       Kind
	Key        string // sysctl: the dotted key; ring: "rx" or "tx"; "" for the other kinds
	Use        Use
	Scope      model.Scope
	Disruptive bool // changing it interrupts traffic and needs explicit consent
	Unit       Unit
	Fields     int // whitespace-separated integers in a value (tcp_rmem 3); 0 when not numeric
	Raise      int // Fields > 1: the field a step raises, or RaiseAll
	Access     Access
	File       string // queue and IRQ files: the file's name
	Cap        Cap    // the config bound of an ordered knob
	Phase      Phase
	Rank       int    // order within the phase
	Settle     string // sysctl holding the seconds a change takes to show in the counters
	Min, Max   int64  // range of every field of a value nettune may write (or restore)
}

// Ordered reports whether the knob's values have a size (see Unit.Ordered).
func (r Row) Ordered() bool { return r.Unit.Ordered() }

const (
	maxInt  = math.MaxInt32 // an int sysctl or count
	maxU32  = math.MaxUint32
	maxLong = math.MaxInt64 // a long sysctl (tcp_mem, ipfrag_high_thresh)
)

// table is the single source of knob facts. Scopes are the kernel's: a sysctl is global when a
// child netns does not have it or shows it read-only (docs/knobs.md). Ranges are what the
// kernel stores (its field type, and its own bounds where it has them), so that any value the
// kernel held can be restored.
var table = []Row{
	// Distribution.
	{Kind: Channels, Use: Advise, Scope: model.ScopeDevice, Disruptive: true, Unit: Queues, Fields: 1,
		Access: AccessEthtoolChannels, Cap: CapDriverMax, Phase: PhaseDistribution, Rank: 0, Min: 1, Max: maxU32},
	{Kind: IRQAffinity, Use: Tune, Scope: model.ScopeGlobal, Unit: CPUList,
		Access: AccessIRQFile, File: "smp_affinity_list", Phase: PhaseDistribution, Rank: 1},
	{Kind: RPS, Use: Tune, Scope: model.ScopeDevice, Unit: CPUMask,
		Access: AccessQueueFile, File: "rps_cpus", Phase: PhaseDistribution, Rank: 2},
	{Kind: RPSFlowCnt, Use: Tune, Scope: model.ScopeDevice, Unit: Entries, Fields: 1,
		Access: AccessQueueFile, File: "rps_flow_cnt", Cap: CapRPSFlowCnt, Phase: PhaseDistribution, Rank: 3, Min: 0, Max: 1 << 30},

	// Softirq budget.
	tuned("net.core.netdev_budget", model.ScopeGlobal, Packets, CapNetdevBudget, PhaseBudget, 0, 0, maxInt),
	tuned("net.core.netdev_budget_usecs", model.ScopeGlobal, Microseconds, CapNetdevBudgetUsecs, PhaseBudget, 1, 0, maxInt),
	readOnly("net.core.dev_weight", model.ScopeGlobal, Packets),

	// RX ring.
	{Kind: Ring, Key: "rx", Use: Tune, Scope: model.ScopeDevice, Disruptive: true, Unit: Descriptors, Fields: 1,
		Access: AccessEthtoolRing, Cap: CapRingFraction, Phase: PhaseRing, Rank: 0, Min: 1, Max: maxU32},

	// Backlog.
	tuned("net.core.netdev_max_backlog", model.ScopeGlobal, Packets, CapNetdevMaxBacklog, PhaseBacklog, 0, 0, maxInt),
	tuned("net.core.flow_limit_table_len", model.ScopeGlobal, Entries, CapFlowLimitTableLen, PhaseBacklog, 1, 0, maxInt),
	readOnly("net.core.flow_limit_cpu_bitmap", model.ScopeGlobal, CPUMask),
	readOnly("net.core.rps_sock_flow_entries", model.ScopeGlobal, Entries),

	// L3.
	settle(tuned("net.ipv4.ipfrag_high_thresh", model.ScopeNetns, Bytes, CapIPFragHighThresh, PhaseL3, 0, 0, maxLong), "net.ipv4.ipfrag_time"),
	settle(tuned("net.ipv6.ip6frag_high_thresh", model.ScopeNetns, Bytes, CapIPFragHighThresh, PhaseL3, 0, 0, maxLong), "net.ipv6.ip6frag_time"),
	readOnly("net.ipv4.ipfrag_low_thresh", model.ScopeNetns, Bytes),
	readOnly("net.ipv4.ipfrag_time", model.ScopeNetns, Seconds),
	readOnly("net.ipv6.ip6frag_time", model.ScopeNetns, Seconds),
	readOnly("net.ipv4.conf.all.rp_filter", model.ScopeNetns, Mode),
	// nf_conntrack_max and _buckets are host-wide: a child netns shows them read-only.
	tuned("net.netfilter.nf_conntrack_max", model.ScopeGlobal, Entries, CapNfConntrackMax, PhaseL3, 1, 0, maxInt),
	readOnly("net.netfilter.nf_conntrack_buckets", model.ScopeGlobal, Entries),
	readOnly("net.netfilter.nf_conntrack_count", model.ScopeNetns, Entries),
	// The neighbour tables' garbage-collection thresholds exist in the host netns only.
	tuned("net.ipv4.neigh.default.gc_thresh1", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),
	tuned("net.ipv4.neigh.default.gc_thresh2", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),
	tuned("net.ipv4.neigh.default.gc_thresh3", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),
	tuned("net.ipv6.neigh.default.gc_thresh1", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),
	tuned("net.ipv6.neigh.default.gc_thresh2", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),
	tuned("net.ipv6.neigh.default.gc_thresh3", model.ScopeGlobal, Entries, CapNeighGCThresh, PhaseL3, 2, 0, maxInt),

	// Socket: per-socket sizes, then the memory pools.
	tuned("net.core.somaxconn", model.ScopeNetns, Entries, CapSomaxconn, PhaseSocket, 0, 0, maxInt),
	tuned("net.ipv4.tcp_max_syn_backlog", model.ScopeNetns, Entries, CapTCPMaxSynBacklog, PhaseSocket, 1, 0, maxInt),
	advised("net.ipv4.tcp_syncookies", model.ScopeNetns, Mode, NoCap, PhaseSocket, 2, 0, 2),
	multi(tuned("net.ipv4.tcp_rmem", model.ScopeNetns, Bytes, CapTCPRmemMax, PhaseSocket, 3, 1, maxInt), 3, 2),
	// rmem_* are host-wide: a child netns shows them read-only.
	tuned("net.core.rmem_default", model.ScopeGlobal, Bytes, CapRmemDefault, PhaseSocket, 4, 0, maxInt),
	tuned("net.core.rmem_max", model.ScopeGlobal, Bytes, CapRmemMax, PhaseSocket, 5, 0, maxInt),
	// tcp_mem and udp_mem exist in the host netns only.
	multi(tuned("net.ipv4.udp_mem", model.ScopeGlobal, Pages, CapUDPMemMaxPages, PhaseSocket, 6, 0, maxLong), 3, RaiseAll),
	multi(tuned("net.ipv4.tcp_mem", model.ScopeGlobal, Pages, CapTCPMemMaxPages, PhaseSocket, 7, 0, maxLong), 3, RaiseAll),
	readOnly("net.core.wmem_default", model.ScopeGlobal, Bytes),
	readOnly("net.core.wmem_max", model.ScopeGlobal, Bytes),
	readOnly("net.ipv4.udp_rmem_min", model.ScopeNetns, Bytes),
	multi(readOnly("net.ipv4.tcp_wmem", model.ScopeNetns, Bytes), 3, 0),
	readOnly("net.ipv4.tcp_moderate_rcvbuf", model.ScopeNetns, Mode),
	// Evidence for TCP under loss and memory pressure: the congestion control a namespace
	// uses and the ones the kernel has (the list is the kernel's, read-only everywhere), and
	// whether the host gave up high-order page allocations for socket buffers.
	readOnly("net.ipv4.tcp_congestion_control", model.ScopeNetns, Name),
	readOnly("net.ipv4.tcp_available_congestion_control", model.ScopeGlobal, Name),
	readOnly("net.core.high_order_alloc_disable", model.ScopeGlobal, Mode),
	// Pages each CPU takes from or returns to the socket memory pools before the shared
	// count that sockstat prints and tcp_mem/udp_mem are checked against moves; absent where
	// the reserve is fixed (1 MiB per CPU from 6.0) or does not exist.
	readOnly("net.core.mem_pcpu_rsv", model.ScopeGlobal, Pages),

	// Transmit.
	{Kind: TxQueueLen, Use: Tune, Scope: model.ScopeDevice, Unit: Packets, Fields: 1,
		Access: AccessLinkTxQLen, Cap: CapTxQueueLen, Phase: PhaseTX, Rank: 0, Min: 0, Max: maxU32},
	// A pfifo limit is packets, a bfifo limit bytes (Caps.Limit converts the cap).
	{Kind: QdiscLimit, Use: Tune, Scope: model.ScopeDevice, Unit: Packets, Fields: 1,
		Access: AccessQdisc, Cap: CapQdiscLimit, Phase: PhaseTX, Rank: 1, Min: 1, Max: maxU32},
	{Kind: Ring, Key: "tx", Use: Tune, Scope: model.ScopeDevice, Disruptive: true, Unit: Descriptors, Fields: 1,
		Access: AccessEthtoolRing, Cap: CapRingFraction, Phase: PhaseTX, Rank: 2, Min: 1, Max: maxU32},
	readOnly("net.core.default_qdisc", model.ScopeGlobal, Name),
}

// tuned is a sysctl nettune proposes and writes: its scope, unit, cap, place in the plan
// (phase, rank) and the range [lo, hi] of each field.
func tuned(key string, scope model.Scope, unit Unit, c Cap, p Phase, rank int, lo, hi int64) Row {
	return Row{Kind: Sysctl, Key: key, Use: Tune, Scope: scope, Unit: unit, Fields: 1, Access: AccessSysctl,
		Cap: c, Phase: p, Rank: rank, Min: lo, Max: hi}
}

// advised is a sysctl nettune proposes for a person to set.
func advised(key string, scope model.Scope, unit Unit, c Cap, p Phase, rank int, lo, hi int64) Row {
	r := tuned(key, scope, unit, c, p, rank, lo, hi)
	r.Use = Advise
	return r
}

// readOnly is a sysctl nettune reads as evidence.
func readOnly(key string, scope model.Scope, unit Unit) Row {
	r := Row{Kind: Sysctl, Key: key, Use: ReadOnly, Scope: scope, Unit: unit, Access: AccessSysctl}
	if unit.Numeric() {
		r.Fields = 1
	}
	return r
}

func multi(r Row, fields, raise int) Row {
	r.Fields, r.Raise = fields, raise
	return r
}

func settle(r Row, key string) Row {
	r.Settle = key
	return r
}

type rowKey struct {
	kind Kind
	key  string
}

var index = func() map[rowKey]int {
	m := make(map[rowKey]int, len(table))
	for i, r := range table {
		m[rowKey{r.Kind, r.Key}] = i
	}
	return m
}()

// Lookup returns the row of id; ok is false for a sysctl the table does not have.
func Lookup(id ID) (Row, bool) {
	k := rowKey{kind: id.Kind}
	switch id.Kind {
	case Sysctl:
		k.key = id.Key
	case Ring:
		k.key = "rx"
		if id.TX {
			k.key = "tx"
		}
	}
	i, ok := index[k]
	if !ok {
		return Row{}, false
	}
	return table[i], true
}

// Rows returns a copy of the table, in plan order within each phase as written.
func Rows() []Row { return append([]Row(nil), table...) }

// SysctlKeys are the keys of every sysctl row: what collect reads.
func SysctlKeys() []string {
	var out []string
	for _, r := range table {
		if r.Kind == Sysctl {
			out = append(out, r.Key)
		}
	}
	return out
}
