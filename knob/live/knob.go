// Package knob reads and writes the settings nettune tunes, each behind one small interface
// and named by the stable knob IDs of docs/vocabulary.md.
package live

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nettune/nettune/policy"
)

var (
	// ErrUnknown is returned for a knob ID nettune does not know.
	ErrUnknown = errors.New("unknown knob")
	// ErrBadValue is returned for a value the knob cannot take.
	ErrBadValue = errors.New("invalid knob value")
	// ErrUnsupported is returned when the device has no such setting (veth has no rings).
	ErrUnsupported = errors.New("not supported by the device")
	// ErrManagedIRQ is returned when the kernel manages an IRQ's affinity and refuses the
	// write; retrying cannot help.
	ErrManagedIRQ = errors.New("irq affinity is managed by the kernel")
)

// Knob is one setting of one namespace or device.
type Knob interface {
	ID() string
	// Netns is the namespace the knob lives in ("" = nettune's own; always "" for host-wide
	// knobs such as IRQ affinity).
	Netns() string
	Read() (string, error)
	Write(value string) error
	Scope() policy.Scope
	// Disruptive knobs interrupt traffic when changed (ring resize) and need explicit consent.
	Disruptive() bool
	// Compare orders two values of this knob; it is how a write is verified (the kernel may
	// round or clamp) and how "never lower a value" is enforced.
	Compare(a, b string) Order
	// Command is the shell equivalent of writing value.
	Command(value string) string
}

// Bounded is a knob with a device maximum (ring sizes).
type Bounded interface {
	Max() (int64, error)
}

// Order is the result of comparing two knob values.
type Order int

const (
	Equal Order = iota
	Less
	Greater
	Unordered // both differ and neither is "more" (CPU masks, strings)
)

func (o Order) String() string {
	return [...]string{"equal", "less", "greater", "unordered"}[o]
}

// Env says where knobs read and write. Fixture roots make every file-backed knob testable
// without root; a root other than /sys is read as-is even for another netns.
type Env struct {
	ProcRoot string      // /proc
	SysRoot  string      // /sys
	Ring     RingBackend // nil: ethtool ioctls in the knob's namespace
}

// DefaultEnv is the real host.
func DefaultEnv() Env { return Env{ProcRoot: "/proc", SysRoot: "/sys"} }

// Parse turns a knob ID into a Knob of namespace ns.
func Parse(id, ns string, env Env) (Knob, error) {
	if env.ProcRoot == "" {
		env.ProcRoot = "/proc"
	}
	if env.SysRoot == "" {
		env.SysRoot = "/sys"
	}
	if env.Ring == nil {
		env.Ring = EthtoolRing{}
	}
	kind, rest, _ := strings.Cut(id, ":")
	parts := strings.Split(rest, ":")
	bad := func() (Knob, error) { return nil, fmt.Errorf("%w: %q", ErrUnknown, id) }
	switch kind {
	case "sysctl":
		if !validSysctlKey(rest) {
			return bad()
		}
		return &sysctlKnob{key: rest, ns: ns, root: env.ProcRoot}, nil
	case "ethtool-ring":
		if len(parts) != 2 || !validIface(parts[0]) || (parts[1] != "rx" && parts[1] != "tx") {
			return bad()
		}
		return &ringKnob{iface: parts[0], tx: parts[1] == "tx", ns: ns, be: env.Ring}, nil
	case "rps", "rps-flow-cnt":
		q, ok := strings.CutPrefix(parts[len(parts)-1], "rx-")
		if len(parts) != 2 || !validIface(parts[0]) || !ok || !isUint(q) {
			return bad()
		}
		return newQueueKnob(kind, parts[0], q, ns, env.SysRoot), nil
	case "irq-affinity":
		if len(parts) != 1 || !isUint(parts[0]) {
			return bad()
		}
		return &irqKnob{irq: parts[0], root: env.ProcRoot}, nil
	case "txqueuelen":
		if len(parts) != 1 || !validIface(parts[0]) {
			return bad()
		}
		return &txqlenKnob{iface: parts[0], ns: ns}, nil
	case "qdisc-limit":
		// The handle itself contains a colon ("1:"); interface names never do.
		iface, handle, ok := strings.Cut(rest, ":")
		h, err := parseHandle(handle)
		if !ok || !validIface(iface) || err != nil {
			return bad()
		}
		return &qdiscKnob{iface: iface, handle: h, ns: ns}, nil
	}
	return bad()
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// validIface follows the kernel's dev_valid_name.
func validIface(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}
