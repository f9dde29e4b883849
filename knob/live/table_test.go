package live

import (
	"strconv"
	"strings"
	"testing"

	"github.com/nettune/nettune/knob"
)

// example is a knob of row r's kind on a made-up device.
func example(r knob.Row) knob.ID {
	id := knob.ID{Kind: r.Kind, Key: r.Key, Iface: "eth0", Queue: 1, IRQ: 41, Handle: 1 << 16}
	if r.Kind == knob.Ring {
		id.Key, id.TX = "", r.Key == "tx"
	}
	return id
}

// exampleValue is a value row r may hold.
func exampleValue(r knob.Row) string {
	switch r.Unit {
	case knob.CPUMask:
		return "3"
	case knob.CPUList:
		return "0-1"
	}
	n := min(r.Min+4321, r.Max) // distinct enough to find in the command
	f := make([]string, r.Fields)
	for i := range f {
		f[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(f, " ")
}

// TestEveryKnobIsComplete walks every kind and every row of the knob table. A knob nettune
// tunes needs a reader and a writer here, a command, a plan phase and, when its values are
// ordered, a cap; an advised knob a command, a phase and a cap when ordered; a read-only
// knob is a sysctl, which collect reads for every row.
func TestEveryKnobIsComplete(t *testing.T) {
	kinds := map[knob.Kind]bool{}
	for _, r := range knob.Rows() {
		kinds[r.Kind] = true
		id := example(r)
		if got, ok := knob.Lookup(id); !ok || got.Kind != r.Kind || got.Key != r.Key {
			t.Errorf("%s: the ID does not find its row", id)
			continue
		}
		switch r.Use {
		case knob.Tune:
			if backends[r.Access] == nil {
				t.Errorf("%s: no reader and writer for access %s", id, r.Access)
				continue
			}
			k, err := Parse(id.String(), "blue", Env{Ring: &fakeRing{}})
			if err != nil {
				t.Errorf("%s: %v", id, err)
				continue
			}
			if k.Row() != r {
				t.Errorf("%s: live knob carries another row", id)
			}
			if err := knob.Validate(id, exampleValue(r)); err != nil {
				t.Errorf("%s: %v", id, err)
			}
			fallthrough
		case knob.Advise:
			v := exampleValue(r)
			if cmd := knob.Command(id, v, knob.Site{Netns: "blue"}); !strings.Contains(cmd, v) {
				t.Errorf("%s: command %q does not write %q", id, cmd, v)
			}
			if r.Phase == knob.NoPhase {
				t.Errorf("%s: no plan phase", id)
			}
			if r.Ordered() && r.Cap == knob.NoCap {
				t.Errorf("%s: ordered values without a cap", id)
			}
		case knob.ReadOnly:
			if r.Kind != knob.Sysctl || r.Access != knob.AccessSysctl || r.Phase != knob.NoPhase {
				t.Errorf("%s: a read-only knob is a sysctl outside the plan", id)
			}
		default:
			t.Errorf("%s: use %d", id, r.Use)
		}
	}
	for _, k := range knob.Kinds() {
		if !kinds[k] {
			t.Errorf("kind %s has no row", k)
		}
	}
}
