package knob

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/nettune/nettune/model"
)

// TestCapsMatchConfig: every field of Caps is a Cap with the same config key, and Caps.Int
// reads the right field.
func TestCapsMatchConfig(t *testing.T) {
	var c Caps
	v := reflect.ValueOf(&c).Elem()
	fields := map[string]int{}
	for i := range v.NumField() {
		fields[v.Type().Field(i).Tag.Get("mapstructure")] = i
		if v.Field(i).CanInt() {
			v.Field(i).SetInt(int64(1000 + i))
		}
	}
	keys := map[string]bool{CapRingFraction.Key(): true}
	for _, cp := range IntCaps() {
		keys[cp.Key()] = true
		i, ok := fields[cp.Key()]
		if !ok {
			t.Errorf("cap %s has no field in Caps", cp.Key())
			continue
		}
		if got := c.Int(cp); got != int64(1000+i) {
			t.Errorf("Caps.Int(%s) = %d reads another field", cp.Key(), got)
		}
	}
	for key := range fields {
		if !keys[key] {
			t.Errorf("Caps field %s is no Cap", key)
		}
	}
	used := map[Cap]bool{}
	for _, r := range table {
		used[r.Cap] = true
	}
	for cp := NoCap + 1; cp <= CapDriverMax; cp++ {
		if !used[cp] {
			t.Errorf("cap %d (%s) bounds no knob", cp, cp.Key())
		}
	}
	d := DefaultCaps()
	for _, cp := range IntCaps() {
		if d.Int(cp) <= 0 {
			t.Errorf("default caps.%s = %d", cp.Key(), d.Int(cp))
		}
	}
}

func TestLimit(t *testing.T) {
	c := DefaultCaps()
	c.RingFraction = 0.5
	for _, x := range []struct {
		cp    Cap
		b     Bound
		limit int64
		ok    bool
	}{
		{CapTCPMemMaxPages, Bound{}, c.TCPMemMaxPages, true},
		{CapQdiscLimit, Bound{QdiscKind: "pfifo"}, c.QdiscLimit, true},
		{CapQdiscLimit, Bound{QdiscKind: "bfifo"}, c.QdiscLimit * 1500, true},
		{CapRingFraction, Bound{DriverMax: 4095}, 2047, true},
		{CapRingFraction, Bound{}, 0, false},
		{CapDriverMax, Bound{DriverMax: 8}, 8, true},
		{NoCap, Bound{DriverMax: 8}, 0, false},
	} {
		if limit, ok := c.Limit(x.cp, x.b); limit != x.limit || ok != x.ok {
			t.Errorf("cap %d %+v: %d %v, want %d %v", x.cp, x.b, limit, ok, x.limit, x.ok)
		}
	}
}

// TestRows checks what the table's rows say about each other; TestEveryKnobIsComplete in
// knob/live checks that each has what reading, writing and planning need.
func TestRows(t *testing.T) {
	if len(index) != len(table) {
		t.Errorf("%d rows for %d knobs: a knob has two rows", len(table), len(index))
	}
	for _, r := range table {
		name := r.Kind.String() + ":" + r.Key
		if r.Kind == Sysctl && !validSysctlKey(r.Key) {
			t.Errorf("%s: bad key", name)
		}
		switch r.Scope {
		case model.ScopeGlobal, model.ScopeNetns, model.ScopeDevice:
		default:
			t.Errorf("%s: scope %q", name, r.Scope)
		}
		if numeric := r.Unit.Numeric(); numeric != (r.Fields > 0) {
			t.Errorf("%s: %d fields of %s", name, r.Fields, r.Unit)
		}
		if r.Fields > 1 && r.Raise != RaiseAll && (r.Raise < 0 || r.Raise >= r.Fields) {
			t.Errorf("%s: raises field %d of %d", name, r.Raise, r.Fields)
		}
		if r.Use != ReadOnly && r.Fields > 0 && (r.Min < 0 || r.Min >= r.Max) {
			t.Errorf("%s: range %d..%d", name, r.Min, r.Max)
		}
		if r.Settle != "" {
			if s, ok := Lookup(SysctlID(r.Settle)); !ok || s.Unit != Seconds || s.Scope != r.Scope {
				t.Errorf("%s: settle sysctl %s is not a row of seconds in the same scope", name, r.Settle)
			}
		}
	}
	// Facts that once drifted between copies of them.
	for key, want := range map[string]model.Scope{
		"net.ipv4.tcp_mem": model.ScopeGlobal, "net.ipv4.udp_mem": model.ScopeGlobal,
		"net.core.somaxconn": model.ScopeNetns, "net.core.rmem_max": model.ScopeGlobal,
		"net.netfilter.nf_conntrack_max": model.ScopeGlobal, "net.ipv4.tcp_rmem": model.ScopeNetns,
	} {
		if r, ok := Lookup(SysctlID(key)); !ok || r.Scope != want || (r.Use == Tune && r.Cap == NoCap) {
			t.Errorf("%s: %+v", key, r)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		id, value string
		err       error
	}{
		{"sysctl:net.core.somaxconn", "4096", nil},
		{"sysctl:net.ipv4.tcp_rmem", "4096\t131072  6291456", nil},
		{"sysctl:net.ipv4.tcp_mem", "94077 125437 9223372036854775807", nil},
		{"rps:eth0:rx-0", "00000000,0000000f", nil},
		{"rps:eth0:rx-0", "0", nil},
		{"irq-affinity:41", "0-3,8", nil},
		{"ethtool-ring:eth0:rx", "4096", nil},
		{"txqueuelen:eth0", "0", nil},
		{"sysctl:net.ipv4.ip_forward", "0", ErrUnknown},
		{"sysctl:net.ipv4.tcp_syncookies", "1", ErrNotTuned},
		{"ethtool-channels:eth0", "4", ErrNotTuned},
		{"sysctl:net.core.default_qdisc", "fq", ErrNotTuned},
		{"sysctl:net.core.somaxconn", "2147483648", ErrValue},
		{"sysctl:net.core.somaxconn", "-1", ErrValue},
		{"sysctl:net.core.somaxconn", "", ErrValue},
		{"sysctl:net.core.somaxconn", "1 2", ErrValue},
		{"sysctl:net.core.somaxconn", "0x10", ErrValue},
		{"sysctl:net.ipv4.tcp_rmem", "4096 131072", ErrValue},
		{"sysctl:net.ipv4.tcp_rmem", "0 131072 6291456", ErrValue},
		{"rps:eth0:rx-0", "xyz", ErrValue},
		{"rps:eth0:rx-0", "-3", ErrValue},
		{"rps:eth0:rx-0", "", ErrValue},
		{"rps:eth0:rx-0", "123456789", ErrValue},
		{"irq-affinity:41", "1-0", ErrValue},
		{"irq-affinity:41", "9000", ErrValue},
		{"qdisc-limit:eth0:1:", "0", ErrValue},
		{"ethtool-ring:eth0:tx", "4294967296", ErrValue},
	} {
		id, err := Parse(c.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(id, c.value); !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s %q: %v, want %v", c.id, c.value, err, c.err)
		}
	}
}

func TestCommand(t *testing.T) {
	for _, c := range []struct {
		id, value string
		site      Site
		want      string
	}{
		{"sysctl:net.core.somaxconn", "8192", Site{}, "sysctl -w net.core.somaxconn=8192"},
		{"sysctl:net.core.somaxconn", "8192", Site{Netns: "blue"}, "ip netns exec blue sysctl -w net.core.somaxconn=8192"},
		{"sysctl:net.core.somaxconn", "8192", Site{Netns: "/proc/42/ns/net"}, "nsenter --net=/proc/42/ns/net sysctl -w net.core.somaxconn=8192"},
		{"sysctl:net.core.netdev_max_backlog", "2000", Site{Netns: "blue"}, "sysctl -w net.core.netdev_max_backlog=2000"},
		{"sysctl:net.ipv4.tcp_rmem", "4096\t131072 12582912", Site{}, `sysctl -w net.ipv4.tcp_rmem="4096 131072 12582912"`},
		{"rps:veth1:rx-0", "2", Site{}, "echo 2 > /sys/class/net/veth1/queues/rx-0/rps_cpus"},
		{"rps:veth1:rx-0", "2", Site{Netns: "blue"}, "ip netns exec blue sh -c 'echo 2 > /sys/class/net/veth1/queues/rx-0/rps_cpus'"},
		{"rps-flow-cnt:eth0:rx-3", "2048", Site{}, "echo 2048 > /sys/class/net/eth0/queues/rx-3/rps_flow_cnt"},
		{"irq-affinity:41", "1", Site{Netns: "blue"}, "echo 1 > /proc/irq/41/smp_affinity_list"},
		{"ethtool-ring:eth0:rx", "1024", Site{}, "ethtool -G eth0 rx 1024"},
		{"ethtool-ring:eth0:tx", "1024", Site{Netns: "blue"}, "ip netns exec blue ethtool -G eth0 tx 1024"},
		{"ethtool-channels:eth0", "4", Site{}, "ethtool -L eth0 combined 4"},
		{"txqueuelen:eth0", "2000", Site{}, "ip link set dev eth0 txqueuelen 2000"},
		{"qdisc-limit:eth0:1:", "10", Site{}, "tc qdisc change dev eth0 handle 1: pfifo limit 10"},
		{"qdisc-limit:eth0:8001:", "20480", Site{Netns: "blue", Qdisc: "fq_codel", Parent: "1:2"},
			"ip netns exec blue tc qdisc change dev eth0 parent 1:2 handle 8001: fq_codel limit 20480"},
		{"sysctl:net.ipv4.ip_forward", "1", Site{}, ""},
	} {
		id, err := Parse(c.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := Command(id, c.value, c.site); got != c.want {
			t.Errorf("%s: %q\nwant %q", c.id, got, c.want)
		}
	}
}

// TestDocumented: docs/knobs.md lists every row of the table.
func TestDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/knobs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range table {
		name := "`" + r.Kind.String() + ":"
		if r.Kind == Sysctl {
			name += r.Key + "`"
		}
		if !strings.Contains(string(b), "| "+name) {
			t.Errorf("docs/knobs.md has no row for %s", name)
		}
	}
}
