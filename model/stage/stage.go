// Package stage holds the stable stage, class and hook identifiers shared by readers, policy
// and output.
package stage

// Stage is a stable identifier for a point on the receive or transmit path (docs/vocabulary.md).
// The string values appear in JSON output, metrics and docs: never rename one.
type Stage string

// Receive path, in order.
const (
	NICPhy        Stage = "nic-phy"
	NICFifo       Stage = "nic-fifo"
	RxRing        Stage = "rx-ring"
	XDP           Stage = "xdp"
	SoftirqBudget Stage = "softirq-budget"
	Backlog       Stage = "backlog"
	FlowLimit     Stage = "flow-limit"
	TCIngress     Stage = "tc-ingress"
	Netfilter     Stage = "netfilter"
	IP            Stage = "ip"
	IPReassembly  Stage = "ip-reassembly"
	// SocketLookup is the transport's search for the socket a packet is for: datagrams and
	// segments for a port nobody listens on are lost here.
	SocketLookup   Stage = "socket-lookup"
	UDPRcvbuf      Stage = "udp-rcvbuf"
	UDPMem         Stage = "udp-mem"
	TCPRcvbuf      Stage = "tcp-rcvbuf"
	TCPBacklog     Stage = "tcp-backlog"
	TCPAcceptQueue Stage = "tcp-accept-queue"
)

// Transmit path, in order.
const (
	UDPSndbuf Stage = "udp-sndbuf"
	IPOut     Stage = "ip-out"
	// Neigh is the resolution of the next hop's link-layer address (ARP, IPv6 neighbour
	// discovery): packets wait in the neighbour's queue and are lost when it cannot be
	// resolved or the neighbour table is full.
	Neigh    Stage = "neigh"
	TCEgress Stage = "tc-egress"
	Qdisc    Stage = "qdisc"
	TxRing   Stage = "tx-ring"
	NICTx    Stage = "nic-tx"
)

// Class says why a packet was lost: more capacity would have saved it, someone configured the
// drop, or nobody wanted the packet.
type Class string

const (
	ClassCapacity Class = "capacity"
	ClassPolicy   Class = "policy"
	ClassBenign   Class = "benign"
)

// RxStages and TxStages list the path in order: the funnel and every finding's stage follow
// them, and nothing else lists the order again.
var (
	RxStages = []Stage{NICPhy, NICFifo, RxRing, XDP, SoftirqBudget,
		Backlog, FlowLimit, TCIngress, Netfilter, IP, IPReassembly, SocketLookup,
		UDPRcvbuf, UDPMem, TCPRcvbuf, TCPBacklog, TCPAcceptQueue}
	TxStages = []Stage{UDPSndbuf, IPOut, Neigh, TCEgress, Qdisc, TxRing, NICTx}
)

// Valid reports whether s is one of the stable stage IDs: a point of the receive or the
// transmit path.
func (s Stage) Valid() bool { return s.Receive() || s.Transmit() }

// Receive reports whether the stage is on the receive path.
func (s Stage) Receive() bool { return index(RxStages, s) >= 0 }

// Transmit reports whether the stage is on the transmit path.
func (s Stage) Transmit() bool { return index(TxStages, s) >= 0 }

func index(path []Stage, s Stage) int {
	for i, x := range path {
		if x == s {
			return i
		}
	}
	return -1
}

// Hook is a netfilter hook: where in the path a firewall chain runs (docs/vocabulary.md §1.3).
type Hook string

const (
	HookPrerouting  Hook = "prerouting"
	HookInput       Hook = "input"
	HookForward     Hook = "forward"
	HookOutput      Hook = "output"
	HookPostrouting Hook = "postrouting"
	HookIngress     Hook = "ingress" // netdev family, per device
	HookEgress      Hook = "egress"  // netdev family, per device
)

// Transmit reports whether packets of this hook are ones the host sends (its own output and
// what leaves after routing), so their share is taken of the packets sent.
func (h Hook) Transmit() bool {
	return h == HookOutput || h == HookPostrouting || h == HookEgress
}
