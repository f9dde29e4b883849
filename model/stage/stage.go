// Package stage holds the stable stage and class identifiers shared by readers, policy and output.
package stage

// Stage is a stable identifier for a point on the receive or transmit path (docs/vocabulary.md).
// The string values appear in JSON output, metrics and docs: never rename one.
type Stage string

// Receive path, in order.
const (
	NICPhy         Stage = "nic-phy"
	NICFifo        Stage = "nic-fifo"
	RxRing         Stage = "rx-ring"
	XDP            Stage = "xdp"
	SoftirqBudget  Stage = "softirq-budget"
	Backlog        Stage = "backlog"
	FlowLimit      Stage = "flow-limit"
	TCIngress      Stage = "tc-ingress"
	Netfilter      Stage = "netfilter"
	IP             Stage = "ip"
	IPReassembly   Stage = "ip-reassembly"
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
	TCEgress  Stage = "tc-egress"
	Qdisc     Stage = "qdisc"
	TxRing    Stage = "tx-ring"
	NICTx     Stage = "nic-tx"
)

// Benign and policy stages: drops that are intended or caused by traffic nobody serves.
const (
	NoListener Stage = "no-listener"
	PolicyDrop Stage = "policy"
	AQM        Stage = "aqm"
)

// Class separates loss that more capacity would fix from drops that are decisions.
type Class string

const (
	ClassCapacity Class = "capacity"
	ClassPolicy   Class = "policy"
	ClassBenign   Class = "benign"
)

// RxStages and TxStages list the path in order; the funnel is rendered in this order.
var (
	RxStages = []Stage{NICPhy, NICFifo, RxRing, XDP, SoftirqBudget,
		Backlog, FlowLimit, TCIngress, Netfilter, IP, IPReassembly,
		UDPRcvbuf, UDPMem, TCPRcvbuf, TCPBacklog, TCPAcceptQueue}
	TxStages = []Stage{UDPSndbuf, IPOut, TCEgress, Qdisc, TxRing, NICTx}
)

// Valid reports whether s is one of the stable stage IDs.
func (s Stage) Valid() bool {
	for _, all := range [][]Stage{RxStages, TxStages, {NoListener, PolicyDrop, AQM}} {
		for _, x := range all {
			if x == s {
				return true
			}
		}
	}
	return false
}

// Class is the class loss at this stage has unless a rule knows better: the benign and
// policy stages are never capacity loss.
func (s Stage) Class() Class {
	switch s {
	case NoListener:
		return ClassBenign
	case PolicyDrop, AQM:
		return ClassPolicy
	}
	return ClassCapacity
}

// Transmit reports whether the stage is on the transmit path.
func (s Stage) Transmit() bool {
	for _, x := range TxStages {
		if x == s {
			return true
		}
	}
	return false
}
