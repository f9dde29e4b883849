// Package live reads and writes, on the running host, the knobs of the knob table: one backend
// per access kind of the table (knob.Access), every other fact from the table's row.
package live

import (
	"errors"
	"fmt"

	"github.com/nettune/nettune/knob"
	"github.com/nettune/nettune/model"
)

var (
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
	// Netns is the namespace the knob lives in ("" = nettune's own; always "" for global
	// knobs such as IRQ affinity or netdev_max_backlog).
	Netns() string
	// Row is the knob's facts from the table.
	Row() knob.Row
	Read() (string, error)
	// Write refuses a value outside the knob's format and range (knob.Validate).
	Write(value string) error
	Scope() model.Scope
	// Disruptive knobs interrupt traffic when changed (ring resize) and need explicit consent.
	Disruptive() bool
	// Compare orders two values of this knob; it is how a write is verified (the kernel may
	// round or clamp) and how "never lower a value" is enforced.
	Compare(a, b string) Order
	// Command is the shell equivalent of writing value.
	Command(value string) string
	// Cap is the highest value the config allows (every numeric field must stay at or below
	// it); ok is false when no cap applies. Ring caps need the driver maximum, so they read.
	Cap(c knob.Caps) (limit int64, ok bool, err error)
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

// backend reads and writes a knob through one access kind of the table. Write gets values
// knob.Validate accepted, normalized.
type backend interface {
	Read() (string, error)
	Write(value string) error
}

// backends are the access kinds nettune reads and writes on the host; every knob the table
// marks knob.Tune has one (TestEveryKnobIsComplete).
var backends = map[knob.Access]func(id knob.ID, ns string, env Env) backend{
	knob.AccessSysctl:      newSysctl,
	knob.AccessQueueFile:   newQueueFile,
	knob.AccessIRQFile:     newIRQFile,
	knob.AccessEthtoolRing: newRing,
	knob.AccessLinkTxQLen:  newTxQLen,
	knob.AccessQdisc:       newQdisc,
}

// Parse opens knob id of namespace ns: a knob the table has and nettune tunes (knob.ErrUnknown,
// knob.ErrNotTuned otherwise). Global knobs live in nettune's own namespace whatever ns says.
func Parse(id, ns string, env Env) (Knob, error) { return ParseVia(id, ns, ns, env) }

// ParseVia is Parse for a knob of namespace ns that is read and written through via, a path
// that names exactly that namespace for as long as the caller holds it (an open namespace
// file's /proc/self/fd/N): a name or a /proc/PID path may name another namespace by the time
// of the write. Netns and Command keep ns, the name a person uses.
func ParseVia(id, ns, via string, env Env) (Knob, error) {
	if env.ProcRoot == "" {
		env.ProcRoot = "/proc"
	}
	if env.SysRoot == "" {
		env.SysRoot = "/sys"
	}
	if env.Ring == nil {
		env.Ring = EthtoolRing{}
	}
	kid, err := knob.Parse(id)
	if err != nil {
		return nil, err
	}
	row, ok := knob.Lookup(kid)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: %s", knob.ErrUnknown, id)
	case row.Use != knob.Tune:
		return nil, fmt.Errorf("%w: %s", knob.ErrNotTuned, id)
	}
	if row.Scope == model.ScopeGlobal {
		ns, via = "", ""
	}
	return &handle{id: kid, row: row, ns: ns, be: backends[row.Access](kid, via, env)}, nil
}

// handle is a knob: its ID and row from the table, and the backend of the row's access.
type handle struct {
	id  knob.ID
	row knob.Row
	ns  string
	be  backend
}

func (k *handle) ID() string              { return k.id.String() }
func (k *handle) Netns() string           { return k.ns }
func (k *handle) Row() knob.Row           { return k.row }
func (k *handle) Scope() model.Scope      { return k.row.Scope }
func (k *handle) Disruptive() bool        { return k.row.Disruptive }
func (k *handle) Read() (string, error)   { return k.be.Read() }
func (k *handle) Command(v string) string { return knob.Command(k.id, v, k.site()) }

func (k *handle) Write(v string) error {
	if err := knob.Validate(k.id, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadValue, err)
	}
	return k.be.Write(knob.Normalize(v))
}

func (k *handle) Compare(a, b string) Order {
	if u := k.row.Unit; u == knob.CPUMask || u == knob.CPUList {
		return compareSets(u, a, b)
	}
	return compareInts(a, b)
}

// site is what the command needs besides the ID: the namespace, and the qdisc's kind and
// parent as the last read found them.
func (k *handle) site() knob.Site {
	s := knob.Site{Netns: k.ns}
	if q, ok := k.be.(*qdiscKnob); ok {
		s.Qdisc, s.Parent = q.kind, q.parent
	}
	return s
}

func (k *handle) Cap(c knob.Caps) (int64, bool, error) {
	var b knob.Bound
	switch be := k.be.(type) {
	case *ringKnob:
		m, err := be.Max()
		if err != nil {
			return 0, false, err
		}
		b.DriverMax = m
	case *qdiscKnob:
		b.QdiscKind = be.kind
	}
	limit, ok := c.Limit(k.row.Cap, b)
	return limit, ok, nil
}
