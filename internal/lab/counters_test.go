package lab

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	tc "github.com/florianl/go-tc"

	"github.com/nettune/nettune/internal/netns"
)

// counters reads /proc/net/snmp and /proc/net/netstat as seen from ns, keyed "Udp.NoPorts".
// Deliberately local and small: the real readers live in collect/kstat.
func counters(t *testing.T, ns *NS) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := netns.Do(ns.name(), func() error {
		for _, f := range []string{"snmp", "netstat"} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f)
			if err != nil {
				return err
			}
			parsePairs(b, m)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("counters in %s: %v", ns.name(), err)
	}
	return m
}

// parsePairs reads the "Proto: names" / "Proto: values" line pairs of snmp and netstat.
func parsePairs(b []byte, m map[string]int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var names []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if names == nil || names[0] != f[0] {
			names = f
			continue
		}
		proto := strings.TrimSuffix(f[0], ":")
		for i := 1; i < len(f) && i < len(names); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			m[proto+"."+names[i]] = v
		}
		names = nil
	}
}

func diff(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// waitCounter waits up to two seconds for key in ns to move by want from before, and
// returns how far it moved.
func waitCounter(t *testing.T, ns *NS, key string, before map[string]int64, want int64) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := counters(t, ns)[key] - before[key]
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// softnetDropped returns column 2 (dropped) of /proc/net/softnet_stat per CPU. The file is
// host-wide, whatever the namespace.
func softnetDropped(t *testing.T) map[int]uint32 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]uint32{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		cpu := i
		if len(f) >= 13 { // column 13 is the CPU id since ~5.10; rows skip offline CPUs
			c, _ := strconv.ParseUint(f[12], 16, 32)
			cpu = int(c)
		}
		d, _ := strconv.ParseUint(f[1], 16, 32)
		m[cpu] = uint32(d)
	}
	return m
}

// qdiscDrops returns the kind and drop count of the qdisc with handle on link in ns.
func qdiscDrops(t *testing.T, ns *NS, link string, handle uint32) (kind string, drops uint32) {
	t.Helper()
	idx, err := linkIndex(ns, link)
	if err != nil {
		t.Fatal(err)
	}
	err = withTC(ns, func(c *tc.Tc) error {
		qs, err := c.Qdisc().Get()
		for _, q := range qs {
			if q.Ifindex == idx && q.Handle == handle {
				kind = q.Kind
				if q.Stats != nil { // Stats2 is decoded wrongly in go-tc v0.4.8
					drops = q.Stats.Drops
				}
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return kind, drops
}

// lossCounters are the per-netns loss counters an injector must leave alone unless it targets them.
var lossCounters = []string{"Udp.RcvbufErrors", "TcpExt.ListenOverflows", "Ip.ReasmFails", "Udp.NoPorts"}

// assertQuiet fails if any loss counter other than the injected one moved by more than
// allowed in d.
func assertQuiet(t *testing.T, d map[string]int64, injected string, allowed int64) {
	t.Helper()
	for _, k := range lossCounters {
		if k != injected && d[k] > allowed {
			t.Errorf("%s moved by %d (allowed %d) while injecting %s", k, d[k], allowed, injected)
		}
	}
}

func TestParsePairs(t *testing.T) {
	m := map[string]int64{}
	parsePairs([]byte("Udp: InDatagrams NoPorts\nUdp: 7 3\nTcpExt: ListenOverflows\nTcpExt: 9\n"), m)
	if m["Udp.NoPorts"] != 3 || m["Udp.InDatagrams"] != 7 || m["TcpExt.ListenOverflows"] != 9 {
		t.Fatalf("parsed %v", m)
	}
}
