package knob

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseID(t *testing.T) {
	for _, c := range []struct {
		s  string
		id ID
	}{
		{"sysctl:net.core.somaxconn", ID{Kind: Sysctl, Key: "net.core.somaxconn"}},
		{"ethtool-ring:eth0:rx", ID{Kind: Ring, Iface: "eth0"}},
		{"ethtool-ring:eth0:tx", ID{Kind: Ring, Iface: "eth0", TX: true}},
		{"ethtool-channels:eth0", ID{Kind: Channels, Iface: "eth0"}},
		{"rps:veth1:rx-0", ID{Kind: RPS, Iface: "veth1"}},
		{"rps-flow-cnt:eth0:rx-12", ID{Kind: RPSFlowCnt, Iface: "eth0", Queue: 12}},
		{"irq-affinity:41", ID{Kind: IRQAffinity, IRQ: 41}},
		{"txqueuelen:veth0", ID{Kind: TxQueueLen, Iface: "veth0"}},
		{"qdisc-limit:eth0:1:", ID{Kind: QdiscLimit, Iface: "eth0", Handle: 0x10000}},
		{"qdisc-limit:eth0:8001:", ID{Kind: QdiscLimit, Iface: "eth0", Handle: 0x80010000}},
		{"qdisc-limit:eth0:1:2", ID{Kind: QdiscLimit, Iface: "eth0", Handle: 0x10002}},
	} {
		id, err := Parse(c.s)
		if err != nil || id != c.id || id.String() != c.s {
			t.Errorf("%q: %+v %v, want %+v", c.s, id, err, c.id)
		}
	}
	for _, s := range []string{
		"", "sysctl", "sysctl:", "sysctl:net..core", "sysctl:net/core/somaxconn", "sysctl:../../etc/passwd",
		"ethtool-ring:eth0", "ethtool-ring:eth0:both", "ethtool-ring:eth0:rx:1", "ethtool-channels:",
		"rps:eth0:tx-0", "rps:eth0:rx-x", "rps:../x:rx-0", "rps:eth0:rx-01", "rps:eth0:rx-+1",
		"irq-affinity:x", "irq-affinity:041", "irq-affinity:4294967296", "txqueuelen:", "txqueuelen:a:b",
		"txqueuelen:abcdefghijklmnop", "qdisc-limit:eth0", "qdisc-limit:eth0:zz:", "qdisc-limit:eth0:0:",
		"qdisc-limit:eth0:1:0", "qdisc-limit:eth0:01:", "bogus:1", "Sysctl:net.core.somaxconn",
	} {
		if id, err := Parse(s); !errors.Is(err, ErrUnknown) {
			t.Errorf("%q: want ErrUnknown, got %+v %v", s, id, err)
		}
	}
}

// IDs sit in JSON as strings, as values and as map keys.
func TestIDText(t *testing.T) {
	type doc struct {
		Knob  ID            `json:"knob"`
		ByID  map[ID]string `json:"by_id"`
		Knobs []ID          `json:"knobs"`
	}
	in := doc{Knob: SysctlID("net.core.somaxconn"), ByID: map[ID]string{{Kind: IRQAffinity, IRQ: 41}: "0-1"},
		Knobs: []ID{{Kind: QdiscLimit, Iface: "eth0", Handle: 0x10000}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"knob":"sysctl:net.core.somaxconn","by_id":{"irq-affinity:41":"0-1"},"knobs":["qdisc-limit:eth0:1:"]}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out.Knob != in.Knob || out.ByID[ID{Kind: IRQAffinity, IRQ: 41}] != "0-1" || out.Knobs[0] != in.Knobs[0] {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"knob":"sysctl:../x"}`), &out); !errors.Is(err, ErrUnknown) {
		t.Errorf("bad ID accepted: %v", err)
	}
	if _, err := json.Marshal(doc{Knob: ID{Kind: Ring}}); err == nil {
		t.Error("an ID without an interface was marshalled")
	}
}

// FuzzParse: every ID Parse accepts prints back as the same text, and parses again to the same ID.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"sysctl:net.core.somaxconn", "ethtool-ring:eth0:tx", "rps:eth0:rx-3",
		"irq-affinity:41", "qdisc-limit:eth0:8001:", "qdisc-limit:eth0:1:2", "txqueuelen:veth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("%q prints as %q", s, id.String())
		}
		again, err := Parse(id.String())
		if err != nil || again != id {
			t.Fatalf("%q: %+v then %+v %v", s, id, again, err)
		}
	})
}
