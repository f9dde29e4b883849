package nft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// rule is what the reader takes from one rule's expressions.
type rule struct {
	text    string
	drop    bool // drops or rejects what it matches
	jumps   []string
	counter *expr.Counter
}

func (r rule) packets() uint64 {
	if r.counter == nil {
		return 0
	}
	return r.counter.Packets
}

func (r rule) bytes() uint64 {
	if r.counter == nil {
		return 0
	}
	return r.counter.Bytes
}

// operand is what an expression loaded into a register: how nft names it, how to print
// values compared with it, and the mask a bitwise expression applied.
type operand struct {
	name string
	kind kind
	mask []byte
	// bits: an address loaded only in part (a prefix match): how many bits were loaded
	bits int
	reg  uint32
}

type kind int

const (
	raw kind = iota
	number
	proto    // an IP protocol number
	nfproto  // a netfilter family
	ethproto // an ethertype
	ipv4
	ipv6
	port
	ifname
	ctstate
	hex
)

// render prints a rule's expressions roughly as `nft list ruleset` does, so a person can
// find the rule: loads into registers become the left side of the comparison that reads
// them ("udp dport 9000", "ip saddr 198.18.0.0/15", "ct state established,related").
// Counter values are left out: the text names the rule, and stays the same across samples.
func render(family nftables.TableFamily, exprs []expr.Any) rule {
	r := &renderer{regs: map[uint32]operand{}, dep: map[expr.PayloadBase]int{}}
	switch family {
	case nftables.TableFamilyIPv4:
		r.l3 = "ip"
	case nftables.TableFamilyIPv6:
		r.l3 = "ip6"
	}
	var out rule
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			r.meta(e)
		case *expr.Payload:
			r.payload(e)
		case *expr.Ct:
			if !e.SourceRegister {
				r.regs[e.Register] = ctOperand(e.Key)
			} else {
				r.word("ct " + ctKey(e.Key) + " set")
			}
		case *expr.Bitwise:
			op := r.regs[e.SourceRegister]
			op.mask = e.Mask
			r.regs[e.DestRegister] = op
		case *expr.Cmp:
			r.cmp(e)
		case *expr.Range:
			op := r.regs[e.Register]
			r.word(fmt.Sprintf("%s %s%s-%s", op.name, cmpOp(expr.CmpOp(e.Op)), r.value(op, e.FromData), r.value(op, e.ToData)))
		case *expr.Lookup:
			op := r.regs[e.SourceRegister]
			neg := ""
			if e.Invert {
				neg = "!= "
			}
			how := ""
			if e.IsDestRegSet {
				how = "map "
				if e.DestRegister == 0 {
					how = "vmap "
				}
			}
			set := "@" + e.SetName
			if strings.HasPrefix(e.SetName, "__") { // an anonymous set: its elements are in the set, not the rule
				set = "{ ... }"
			}
			r.word(fmt.Sprintf("%s %s%s%s", op.name, neg, how, set))
		case *expr.Immediate:
			r.regs[e.Register] = operand{name: "0x" + fmt.Sprintf("%x", e.Data), kind: raw}
		case *expr.Counter:
			out.counter = e
			r.word("counter")
		case *expr.Verdict:
			v := verdict(e)
			switch e.Kind {
			case expr.VerdictDrop:
				out.drop = true
			case expr.VerdictJump, expr.VerdictGoto:
				out.jumps = append(out.jumps, e.Chain)
			}
			r.word(v)
		case *expr.Reject:
			out.drop = true
			r.word("reject")
		case *expr.Log:
			if len(e.Data) > 0 {
				r.word("log prefix " + strconv.Quote(string(bytes.TrimRight(e.Data, "\x00"))))
			} else {
				r.word("log")
			}
		case *expr.Limit:
			r.word(limit(e))
		case *expr.Quota:
			over := ""
			if e.Over {
				over = "over "
			}
			r.word(fmt.Sprintf("quota %s%d bytes", over, e.Bytes))
		case *expr.Match:
			r.word("xt match " + strconv.Quote(e.Name))
		case *expr.Target:
			// iptables-nft's REJECT is an xt target; it drops what it answers
			out.drop = out.drop || e.Name == "REJECT" || e.Name == "DROP"
			r.word("xt target " + strconv.Quote(e.Name))
		case *expr.NAT:
			if e.Type == expr.NATTypeSourceNAT {
				r.word("snat")
			} else {
				r.word("dnat")
			}
		case *expr.Masq:
			r.word("masquerade")
		case *expr.Redir:
			r.word("redirect")
		case *expr.Notrack:
			r.word("notrack")
		case *expr.Objref:
			r.word(fmt.Sprintf("%s name %s", objType(e.Type), strconv.Quote(e.Name)))
		case nil:
		default:
			// the expressions nettune does not print word by word: their name, as nft uses it
			r.word(strings.ToLower(reflect.TypeOf(e).Elem().Name()))
		}
	}
	out.text = strings.Join(strings.Fields(strings.Join(r.words, " ")), " ")
	return out
}

type renderer struct {
	regs  map[uint32]operand
	words []string
	l3    string // ip or ip6 once known (the table's family, or a match on it)
	l4    string // tcp, udp, ... once a match on the transport protocol was seen
	// The word of a match that only establishes the protocol of a header the next load
	// reads (meta l4proto udp before udp dport): nft leaves such dependencies out, and so
	// does render once the load is seen. -1 when there is none.
	dep map[expr.PayloadBase]int
	// last is the previous comparison, for the range nft writes as two of them.
	last *lastCmp
}

type lastCmp struct {
	reg  uint32
	op   expr.CmpOp
	word int
	data []byte
}

func (r *renderer) word(s string) { r.words = append(r.words, s); r.last = nil }

// useDependency drops the protocol match that a load from base makes implicit.
func (r *renderer) useDependency(base expr.PayloadBase) {
	if i, ok := r.dep[base]; ok {
		r.words[i] = ""
		delete(r.dep, base)
	}
}

var metaNames = map[expr.MetaKey]struct {
	name string
	kind kind
}{
	expr.MetaKeyLEN: {"length", number}, expr.MetaKeyPROTOCOL: {"protocol", ethproto}, expr.MetaKeyPRIORITY: {"priority", hex},
	expr.MetaKeyMARK: {"mark", hex}, expr.MetaKeyIIF: {"iif", number}, expr.MetaKeyOIF: {"oif", number},
	expr.MetaKeyIIFNAME: {"iifname", ifname}, expr.MetaKeyOIFNAME: {"oifname", ifname},
	expr.MetaKeyIIFTYPE: {"iiftype", number}, expr.MetaKeyOIFTYPE: {"oiftype", number},
	expr.MetaKeySKUID: {"skuid", number}, expr.MetaKeySKGID: {"skgid", number}, expr.MetaKeyNFTRACE: {"nftrace", number},
	expr.MetaKeyNFPROTO: {"nfproto", nfproto}, expr.MetaKeyL4PROTO: {"l4proto", proto},
	expr.MetaKeyBRIIIFNAME: {"ibrname", ifname}, expr.MetaKeyBRIOIFNAME: {"obrname", ifname},
	expr.MetaKeyPKTTYPE: {"pkttype", number}, expr.MetaKeyCPU: {"cpu", number},
	expr.MetaKeyIIFGROUP: {"iifgroup", number}, expr.MetaKeyOIFGROUP: {"oifgroup", number},
	expr.MetaKeyCGROUP: {"cgroup", number},
}

// bareMeta are the meta keys nft prints without "meta".
var bareMeta = map[expr.MetaKey]bool{expr.MetaKeyIIF: true, expr.MetaKeyOIF: true, expr.MetaKeyIIFNAME: true,
	expr.MetaKeyOIFNAME: true, expr.MetaKeyIIFTYPE: true, expr.MetaKeyOIFTYPE: true}

func (r *renderer) meta(e *expr.Meta) {
	m, ok := metaNames[e.Key]
	switch {
	case !ok:
		m.name, m.kind = fmt.Sprintf("meta key %d", e.Key), raw
	case !bareMeta[e.Key]:
		m.name = "meta " + m.name
	}
	if e.SourceRegister {
		r.word(m.name + " set")
		return
	}
	r.regs[e.Register] = operand{name: m.name, kind: m.kind, reg: e.Register}
}

// payload names a header field by its offset, as nft does for the fields it knows. An address
// loaded in part is a prefix match ("ip6 daddr 2001:db8::/32" loads 4 bytes).
func (r *renderer) payload(e *expr.Payload) {
	if e.OperationType == expr.PayloadWrite {
		r.word("payload set")
		return
	}
	op := operand{name: fmt.Sprintf("@%s,%d,%d", payloadBase(e.Base), 8*e.Offset, 8*e.Len), kind: hex}
	addr := func(name string, at, size uint32, k kind) bool {
		if e.Offset != at || e.Len == 0 || e.Len > size {
			return false
		}
		op = operand{name: name, kind: k}
		if e.Len < size {
			op.bits = int(8 * e.Len)
		}
		return true
	}
	switch e.Base {
	case expr.PayloadBaseLLHeader:
		if e.Offset == 12 && e.Len == 2 {
			op = operand{name: "ether type", kind: ethproto}
		}
	case expr.PayloadBaseNetworkHeader:
		v4, v6 := r.l3 != "ip6", r.l3 != "ip"
		switch {
		case v4 && e.Offset == 9 && e.Len == 1:
			op = operand{name: "ip protocol", kind: proto}
		case v4 && addr("ip saddr", 12, 4, ipv4), v4 && addr("ip daddr", 16, 4, ipv4):
		case v6 && e.Offset == 6 && e.Len == 1:
			op = operand{name: "ip6 nexthdr", kind: proto}
		case v6 && addr("ip6 saddr", 8, 16, ipv6), v6 && addr("ip6 daddr", 24, 16, ipv6):
		}
	case expr.PayloadBaseTransportHeader:
		l4 := r.l4
		if l4 == "" {
			l4 = "th"
		}
		switch {
		case e.Offset == 0 && e.Len == 2:
			op = operand{name: l4 + " sport", kind: port}
		case e.Offset == 2 && e.Len == 2:
			op = operand{name: l4 + " dport", kind: port}
		case l4 == "tcp" && e.Offset == 13 && e.Len == 1:
			op = operand{name: "tcp flags", kind: hex}
		}
	}
	if !strings.HasPrefix(op.name, "@") {
		r.useDependency(e.Base)
	}
	op.reg = e.DestRegister
	r.regs[e.DestRegister] = op
}

func payloadBase(b expr.PayloadBase) string {
	switch b {
	case expr.PayloadBaseLLHeader:
		return "ll"
	case expr.PayloadBaseNetworkHeader:
		return "nh"
	case expr.PayloadBaseTransportHeader:
		return "th"
	}
	return "base" + strconv.Itoa(int(b))
}

func (r *renderer) cmp(e *expr.Cmp) {
	op := r.regs[e.Register]
	// nft writes a range as >= and <= of one field: print it as a range
	if l := r.last; l != nil && l.reg == e.Register && l.op == expr.CmpOpGte && e.Op == expr.CmpOpLte && len(op.mask) == 0 {
		r.words[l.word] = fmt.Sprintf("%s %s-%s", op.name, r.value(op, l.data), r.value(op, e.Data))
		r.last = nil
		return
	}
	// What a match establishes names the fields after it: "meta l4proto udp" makes the
	// transport header's bytes 2-3 "udp dport"; the match itself is then implicit.
	var dep expr.PayloadBase = 255
	if e.Op == expr.CmpOpEq && len(op.mask) == 0 && len(e.Data) > 0 {
		switch {
		case op.kind == proto && len(e.Data) == 1:
			r.l4, dep = protoName(e.Data[0]), expr.PayloadBaseTransportHeader
		case op.kind == nfproto && len(e.Data) == 1:
			r.l3, dep = map[byte]string{2: "ip", 10: "ip6"}[e.Data[0]], expr.PayloadBaseNetworkHeader
		case op.kind == ethproto && len(e.Data) == 2 && binary.BigEndian.Uint16(e.Data) == 0x0800:
			r.l3, dep = "ip", expr.PayloadBaseNetworkHeader
		case op.kind == ethproto && len(e.Data) == 2 && binary.BigEndian.Uint16(e.Data) == 0x86dd:
			r.l3, dep = "ip6", expr.PayloadBaseNetworkHeader
		case op.name == "iiftype" && len(e.Data) == 2 && binary.NativeEndian.Uint16(e.Data) == 1: // ARPHRD_ETHER
			dep = expr.PayloadBaseLLHeader
		}
	}
	var w string
	switch {
	case op.kind == ctstate && len(op.mask) > 0 && e.Op == expr.CmpOpNeq && allZero(e.Data):
		// ct state established,related: the mask holds the states, the comparison is != 0
		w = op.name + " " + ctStates(op.mask)
	case (op.kind == ipv4 || op.kind == ipv6) && (len(op.mask) > 0 || op.bits > 0):
		bits := op.bits
		if len(op.mask) > 0 {
			bits = prefixLen(op.mask)
		}
		w = fmt.Sprintf("%s %s%s/%d", op.name, cmpOp(e.Op), r.value(op, e.Data), bits)
	case len(op.mask) > 0:
		w = fmt.Sprintf("%s & 0x%x %s0x%x", op.name, op.mask, cmpOp(e.Op), e.Data)
	default:
		w = fmt.Sprintf("%s %s%s", op.name, cmpOp(e.Op), r.value(op, e.Data))
	}
	r.word(w)
	if dep != 255 {
		r.dep[dep] = len(r.words) - 1
	}
	r.last = &lastCmp{reg: e.Register, op: e.Op, word: len(r.words) - 1, data: e.Data}
}

func cmpOp(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpNeq:
		return "!= "
	case expr.CmpOpLt:
		return "< "
	case expr.CmpOpLte:
		return "<= "
	case expr.CmpOpGt:
		return "> "
	case expr.CmpOpGte:
		return ">= "
	}
	return ""
}

// value prints b as what op holds.
func (r *renderer) value(op operand, b []byte) string {
	switch op.kind {
	case proto:
		if len(b) == 1 {
			return protoName(b[0])
		}
	case nfproto:
		if len(b) == 1 {
			if n, ok := map[byte]string{2: "ipv4", 10: "ipv6"}[b[0]]; ok {
				return n
			}
		}
	case ethproto:
		if len(b) == 2 {
			if n, ok := map[uint16]string{0x0800: "ip", 0x86dd: "ip6", 0x0806: "arp", 0x8100: "vlan"}[binary.BigEndian.Uint16(b)]; ok {
				return n
			}
		}
	case port:
		if len(b) == 2 {
			return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
		}
	case ipv4, ipv6:
		size := map[kind]int{ipv4: 4, ipv6: 16}[op.kind]
		if len(b) < size { // a prefix: the rest of the address is zero
			b = append(append([]byte(nil), b...), make([]byte, size-len(b))...)
		}
		if a, ok := netip.AddrFromSlice(b); ok {
			return a.String()
		}
	case ifname:
		name := string(bytes.TrimRight(b, "\x00"))
		if len(b) < 16 && !bytes.HasSuffix(b, []byte{0}) {
			name += "*" // a prefix match compares fewer bytes
		}
		return strconv.Quote(name)
	case number:
		switch len(b) {
		case 1:
			return strconv.Itoa(int(b[0]))
		case 2:
			return strconv.Itoa(int(binary.NativeEndian.Uint16(b)))
		case 4:
			return strconv.FormatUint(uint64(binary.NativeEndian.Uint32(b)), 10)
		}
	case ctstate:
		return ctStates(b)
	}
	return fmt.Sprintf("0x%x", b)
}

func protoName(p byte) string {
	if n, ok := map[byte]string{1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 33: "dccp", 41: "ipv6", 47: "gre", 50: "esp",
		51: "ah", 58: "ipv6-icmp", 132: "sctp", 136: "udplite"}[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

func ctOperand(k expr.CtKey) operand {
	switch k {
	case expr.CtKeySTATE:
		return operand{name: "ct state", kind: ctstate}
	case expr.CtKeyMARK:
		return operand{name: "ct mark", kind: hex}
	}
	return operand{name: "ct " + ctKey(k), kind: hex}
}

func ctKey(k expr.CtKey) string {
	if n, ok := map[expr.CtKey]string{expr.CtKeySTATE: "state", expr.CtKeyDIRECTION: "direction", expr.CtKeySTATUS: "status",
		expr.CtKeyMARK: "mark", expr.CtKeyHELPER: "helper", expr.CtKeyZONE: "zone", expr.CtKeyLABELS: "label",
		expr.CtKeyEXPIRATION: "expiration", expr.CtKeyPROTOCOL: "protocol"}[k]; ok {
		return n
	}
	return "key" + strconv.Itoa(int(k))
}

// ctStates names the conntrack states of a state bitmask (host byte order).
func ctStates(b []byte) string {
	if len(b) != 4 {
		return fmt.Sprintf("0x%x", b)
	}
	m := binary.NativeEndian.Uint32(b)
	var names []string
	for _, s := range []struct {
		bit  uint32
		name string
	}{{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"}, {expr.CtStateBitRELATED, "related"},
		{expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"}} {
		if m&s.bit != 0 {
			names = append(names, s.name)
			m &^= s.bit
		}
	}
	if m != 0 {
		names = append(names, fmt.Sprintf("0x%x", m))
	}
	return strings.Join(names, ",")
}

func prefixLen(mask []byte) int {
	n := 0
	for _, b := range mask {
		for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
			n++
		}
	}
	return n
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func verdict(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	case expr.VerdictQueue:
		return "queue"
	case expr.VerdictStolen:
		return "stolen"
	}
	return "verdict " + strconv.Itoa(int(v.Kind))
}

func limit(e *expr.Limit) string {
	over := ""
	if e.Over {
		over = "over "
	}
	unit := map[expr.LimitTime]string{expr.LimitTimeSecond: "second", expr.LimitTimeMinute: "minute", expr.LimitTimeHour: "hour",
		expr.LimitTimeDay: "day", expr.LimitTimeWeek: "week"}[e.Unit]
	what := ""
	if e.Type == expr.LimitTypePktBytes {
		what = " bytes"
	}
	s := fmt.Sprintf("limit rate %s%d%s/%s", over, e.Rate, what, unit)
	if e.Burst > 0 {
		s += fmt.Sprintf(" burst %d packets", e.Burst)
	}
	return s
}

func objType(t int) string {
	if n, ok := map[int]string{1: "counter", 2: "quota", 3: "ct helper", 4: "limit", 7: "ct timeout", 8: "secmark"}[t]; ok {
		return n
	}
	return "object"
}
