// Package knob is the table of every setting nettune knows: the typed knob ID and, for each
// kind of knob and each sysctl, its scope, unit, how it is read, written and printed as a
// command, the config cap that bounds it, its plan phase and the values it may hold
// (docs/knobs.md). It does no I/O: knob/live reads and writes the knobs, policy proposes
// them, apply re-checks and journals them, all from this table.
package knob

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknown is returned for a knob ID that breaks the grammar, or names a knob the table
// does not have.
var ErrUnknown = errors.New("unknown knob")

// Kind is the first part of a knob ID.
type Kind uint8

const (
	Sysctl      Kind = iota + 1 // sysctl:<dotted.key>
	Ring                        // ethtool-ring:<iface>:rx|tx
	Channels                    // ethtool-channels:<iface>
	RPS                         // rps:<iface>:rx-<n>
	RPSFlowCnt                  // rps-flow-cnt:<iface>:rx-<n>
	IRQAffinity                 // irq-affinity:<irq>
	TxQueueLen                  // txqueuelen:<iface>
	QdiscLimit                  // qdisc-limit:<iface>:<handle>
)

var kindNames = [...]string{
	Sysctl: "sysctl", Ring: "ethtool-ring", Channels: "ethtool-channels", RPS: "rps",
	RPSFlowCnt: "rps-flow-cnt", IRQAffinity: "irq-affinity", TxQueueLen: "txqueuelen",
	QdiscLimit: "qdisc-limit",
}

func (k Kind) String() string {
	if k == 0 || int(k) >= len(kindNames) {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Kinds lists every kind of knob.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kindNames)-1)
	for k := Sysctl; int(k) < len(kindNames); k++ {
		out = append(out, k)
	}
	return out
}

// ID names one knob. Its text form is stable (it is in JSON output, journals and config):
// Parse and String convert between the two, and String(Parse(s)) == s for every s Parse
// accepts.
type ID struct {
	Kind   Kind
	Key    string // sysctl: the dotted key
	Iface  string // ring, channels, rps, rps-flow-cnt, txqueuelen, qdisc-limit
	TX     bool   // ring: the TX ring (else RX)
	Queue  uint32 // rps, rps-flow-cnt: the RX queue
	IRQ    uint32 // irq-affinity
	Handle uint32 // qdisc-limit: the qdisc's handle, major<<16 | minor
}

// SysctlID names a sysctl knob.
func SysctlID(key string) ID { return ID{Kind: Sysctl, Key: key} }

// Parse reads a knob ID. It accepts the canonical form only (no leading zeros, "1:" not
// "1:0" for a handle), so that every knob has exactly one ID.
func Parse(s string) (ID, error) {
	id, ok := parse(s)
	if !ok || id.String() != s {
		return ID{}, fmt.Errorf("%w: %q", ErrUnknown, s)
	}
	return id, nil
}

func parse(s string) (ID, bool) {
	name, rest, _ := strings.Cut(s, ":")
	var id ID
	for k, n := range kindNames {
		if n != "" && n == name {
			id.Kind = Kind(k)
		}
	}
	parts := strings.Split(rest, ":")
	switch id.Kind {
	case Sysctl:
		id.Key = rest
		return id, validSysctlKey(rest)
	case Ring:
		id.Iface, id.TX = parts[0], len(parts) == 2 && parts[1] == "tx"
		return id, len(parts) == 2 && validIface(parts[0]) && (parts[1] == "rx" || parts[1] == "tx")
	case Channels, TxQueueLen:
		id.Iface = rest
		return id, len(parts) == 1 && validIface(rest)
	case RPS, RPSFlowCnt:
		if len(parts) != 2 || !validIface(parts[0]) {
			return id, false
		}
		q, ok := strings.CutPrefix(parts[1], "rx-")
		n, err := strconv.ParseUint(q, 10, 32)
		id.Iface, id.Queue = parts[0], uint32(n)
		return id, ok && err == nil
	case IRQAffinity:
		n, err := strconv.ParseUint(rest, 10, 32)
		id.IRQ = uint32(n)
		return id, err == nil
	case QdiscLimit:
		// The handle itself contains a colon ("1:"); interface names never do.
		iface, handle, ok := strings.Cut(rest, ":")
		h, err := ParseHandle(handle)
		id.Iface, id.Handle = iface, h
		return id, ok && validIface(iface) && err == nil && h != 0
	}
	return id, false
}

func (id ID) String() string {
	dir := "rx"
	if id.TX {
		dir = "tx"
	}
	k := id.Kind.String()
	switch id.Kind {
	case Sysctl:
		return k + ":" + id.Key
	case Ring:
		return k + ":" + id.Iface + ":" + dir
	case Channels, TxQueueLen:
		return k + ":" + id.Iface
	case RPS, RPSFlowCnt:
		return k + ":" + id.Iface + ":rx-" + strconv.FormatUint(uint64(id.Queue), 10)
	case IRQAffinity:
		return k + ":" + strconv.FormatUint(uint64(id.IRQ), 10)
	case QdiscLimit:
		return k + ":" + id.Iface + ":" + FormatHandle(id.Handle)
	}
	return k
}

// MarshalText writes the ID's text form, so an ID can be a JSON string or map key.
func (id ID) MarshalText() ([]byte, error) {
	if _, ok := parse(id.String()); !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, id.String())
	}
	return []byte(id.String()), nil
}

// UnmarshalText parses the text form.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseHandle reads tc's "major:minor" hex notation ("1:", "8001:2").
func ParseHandle(s string) (uint32, error) {
	maj, minor, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("%w: qdisc handle %q", ErrUnknown, s)
	if !ok || maj == "" {
		return 0, bad
	}
	a, err := strconv.ParseUint(maj, 16, 16)
	if err != nil {
		return 0, bad
	}
	var b uint64
	if minor != "" {
		if b, err = strconv.ParseUint(minor, 16, 16); err != nil {
			return 0, bad
		}
	}
	return uint32(a<<16 | b), nil
}

// FormatHandle prints a handle as tc does: "1:", "1:2".
func FormatHandle(h uint32) string {
	s := strconv.FormatUint(uint64(h>>16), 16) + ":"
	if h&0xffff != 0 {
		s += strconv.FormatUint(uint64(h&0xffff), 16)
	}
	return s
}

// validSysctlKey accepts dotted keys only: a dot becomes a slash in /proc/sys, so a key with
// a slash or an empty segment would address the wrong file.
func validSysctlKey(key string) bool {
	if key == "" {
		return false
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// validIface follows the kernel's dev_valid_name.
func validIface(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}
