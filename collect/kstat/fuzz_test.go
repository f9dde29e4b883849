package kstat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/nldump"
	"github.com/nettune/nettune/model"
)

// Fuzz targets for every reader of kernel text and netlink answers in this package, seeded
// with the fixtures. Each checks what the parse must keep true whatever the bytes: no panic,
// results bounded by the input, and a parse → print → parse round trip where the format
// allows one.

// seedFiles adds the fixture files matching the globs as string seeds.
func seedFiles(f *testing.F, globs ...string) {
	f.Helper()
	n := 0
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no fixture matches %v", globs)
	}
}

// fields counts the whitespace-separated tokens of s.
func fields(s string) int { return len(strings.Fields(s)) }

// writeTree writes files (path relative to a new temporary root → content) and returns the root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func FuzzParseSNMP(f *testing.F) {
	seedFiles(f, "testdata/*/proc/net/snmp", "testdata/*/proc/net/netstat", "testdata/*/proc/thread-self/net/snmp",
		"testdata/*/proc/thread-self/net/netstat")
	f.Add("Tcp: RtoMin MaxConn\nTcp: 200 -1\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSNMP(strings.NewReader(s))
		if err != nil {
			return
		}
		// Every counter needs a name and a value token.
		if 2*len(m) > fields(s) {
			t.Fatalf("%d counters from %d tokens", len(m), fields(s))
		}
		var text strings.Builder
		printed := 0
		for _, k := range slices.Sorted(maps.Keys(m)) {
			proto, name, ok := strings.Cut(k, ".")
			if !ok {
				t.Fatalf("key %q has no protocol", k)
			}
			if !strings.Contains(s, strconv.FormatUint(m[k], 10)) {
				t.Fatalf("%s = %d: not in the input", k, m[k])
			}
			// Keys are "Proto.Field" with protocols of the kernel's kind: one word.
			if strings.ContainsAny(k, " \t\r\v\f") {
				continue
			}
			fmt.Fprintf(&text, "%s: %s\n%s: %d\n", proto, name, proto, m[k])
			printed++
		}
		back, err := ParseSNMP(strings.NewReader(text.String()))
		if err != nil {
			t.Fatalf("printed table does not parse: %v\n%s", err, text.String())
		}
		if len(back) != printed {
			t.Fatalf("round trip: %d counters printed, %d parsed back", printed, len(back))
		}
		for k, v := range back {
			if m[k] != v {
				t.Fatalf("round trip: %s = %d, parsed %d", k, v, m[k])
			}
		}
	})
}

func FuzzParseSNMP6(f *testing.F) {
	seedFiles(f, "testdata/*/proc/net/snmp6", "testdata/*/proc/thread-self/net/snmp6")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseSNMP6(strings.NewReader(s))
		if err != nil {
			return
		}
		if 2*len(m) > fields(s) {
			t.Fatalf("%d counters from %d tokens", len(m), fields(s))
		}
		var text strings.Builder
		for k, v := range m {
			proto, field, ok := strings.Cut(k, "6.")
			if !ok || strings.Contains(proto, "6") || field == "" {
				t.Fatalf("key %q is not Proto6.Field", k)
			}
			fmt.Fprintf(&text, "%s6%s %d\n", proto, field, v)
		}
		back, err := ParseSNMP6(strings.NewReader(text.String()))
		if err != nil {
			t.Fatalf("printed file does not parse: %v\n%s", err, text.String())
		}
		if !maps.Equal(m, back) {
			t.Fatalf("round trip: %v\nparsed back %v", m, back)
		}
	})
}

func FuzzParseConntrack(f *testing.F) {
	seedFiles(f, "testdata/conntrack-*/proc/net/stat/nf_conntrack", "testdata/conntrack-*/proc/thread-self/net/stat/nf_conntrack")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseConntrack(strings.NewReader(s))
		if err != nil {
			return
		}
		lines := strings.Split(s, "\n")
		header := strings.Fields(lines[0])
		rows := 0
		for _, l := range lines[1:] {
			if fields(l) > 0 {
				rows++
			}
		}
		for k, v := range m {
			// Each row adds one 32-bit value per column of that name.
			cols := uint64(0)
			for _, h := range header[1:] {
				if h == k {
					cols++
				}
			}
			if cols == 0 {
				t.Fatalf("counter %q not in the header %q", k, lines[0])
			}
			if v > cols*uint64(rows)*math.MaxUint32 {
				t.Fatalf("%s = %d from %d rows", k, v, rows)
			}
		}
		// Print the sums back as rows of 32-bit values, splitting sums that need more.
		names := slices.Sorted(maps.Keys(m))
		left := maps.Clone(m)
		var text strings.Builder
		text.WriteString(strings.Join(append([]string{conntrackGauge}, names...), " ") + "\n")
		for {
			var row []string
			more := false
			for _, n := range names {
				v := min(left[n], math.MaxUint32)
				left[n] -= v
				more = more || left[n] > 0
				row = append(row, fmt.Sprintf("%08x", v))
			}
			text.WriteString("00000000 " + strings.Join(row, " ") + "\n")
			if !more {
				break
			}
		}
		back, err := ParseConntrack(strings.NewReader(text.String()))
		if err != nil {
			t.Fatalf("printed file does not parse: %v\n%s", err, text.String())
		}
		if !maps.Equal(m, back) {
			t.Fatalf("round trip: %v\nparsed back %v", m, back)
		}
	})
}

// fuzzLinks are the links (and devices) of the interrupts fixtures.
var fuzzLinks = []LinkDevice{{"eth0", "virtio2"}, {"eth1", "0000:02:00.0"}, {"ens1f0", "0000:3b:00.0"},
	{"ens2f0", "0000:17:00.0"}, {"ens1f1np1", "0000:3b:00.1"}, {"eno1", "0000:04:00.0"},
	{"ens5", "0000:00:05.0"}, {"ens6f0np0", "0000:41:00.0"}, {"veth0", ""}}

func FuzzParseInterrupts(f *testing.F) {
	seedFiles(f, "testdata/*/proc/interrupts", "testdata/interrupts/*")
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := ParseInterrupts(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(lines) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d interrupts from %d lines", len(lines), strings.Count(s, "\n")+1)
		}
		ncpu := fields(strings.SplitN(s, "\n", 2)[0])
		var text strings.Builder
		for i := range ncpu {
			fmt.Fprintf(&text, " CPU%d", i)
		}
		text.WriteString("\n")
		for _, in := range lines {
			if len(in.PerCPU) != ncpu {
				t.Fatalf("irq %d: %d counts for %d CPUs", in.IRQ, len(in.PerCPU), ncpu)
			}
			fmt.Fprintf(&text, "%d:", in.IRQ)
			for _, c := range in.PerCPU {
				fmt.Fprintf(&text, " %d", c)
			}
			if len(in.Actions) > 0 {
				text.WriteString(" " + strings.Join(in.Actions, ", "))
			}
			text.WriteString("\n")
		}
		back, err := ParseInterrupts(strings.NewReader(text.String()))
		if err != nil {
			t.Fatalf("printed file does not parse: %v\n%s", err, text.String())
		}
		if !slices.EqualFunc(lines, back, func(a, b Interrupt) bool {
			return a.IRQ == b.IRQ && slices.Equal(a.PerCPU, b.PerCPU) && slices.Equal(a.Actions, b.Actions)
		}) {
			t.Fatalf("round trip:\n%+v\nparsed back\n%+v\nfrom\n%s", lines, back, text.String())
		}

		byIRQ := map[int][]Interrupt{}
		for _, in := range lines {
			byIRQ[in.IRQ] = append(byIRQ[in.IRQ], in)
		}
		for _, q := range MapInterrupts(lines, fuzzLinks) {
			if !slices.ContainsFunc(fuzzLinks, func(l LinkDevice) bool { return l.Link == q.Link }) {
				t.Fatalf("irq %d mapped to unknown link %q", q.IRQ, q.Link)
			}
			if q.Queue < -1 || q.Dir != "" && q.Dir != model.Rx && q.Dir != model.Tx {
				t.Fatalf("irq %d: queue %d dir %q", q.IRQ, q.Queue, q.Dir)
			}
			if !slices.ContainsFunc(byIRQ[q.IRQ], func(in Interrupt) bool { return slices.Contains(in.Actions, q.Name) }) {
				t.Fatalf("irq %d: name %q not among the line's handlers", q.IRQ, q.Name)
			}
		}
	})
}

func FuzzReadSoftnet(f *testing.F) {
	seedFiles(f, "testdata/*/proc/net/softnet_stat", "testdata/*/proc/thread-self/net/softnet_stat")
	f.Fuzz(func(t *testing.T, s string) {
		root := writeTree(t, map[string]string{"net/softnet_stat": s})
		rows, err := ReadSoftnet(root)
		if err != nil {
			return
		}
		if len(rows) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d rows from %d lines", len(rows), strings.Count(s, "\n")+1)
		}
		// Printed back in the 13-column layout (CPU id last), the rows read the same.
		var text strings.Builder
		for _, r := range rows {
			if r.CPU < 0 || r.CPU > math.MaxUint32 {
				t.Fatalf("cpu %d", r.CPU)
			}
			fmt.Fprintf(&text, "%08x %08x %08x 00000000 00000000 00000000 00000000 00000000 00000000 %08x %08x %08x %08x\n",
				r.Processed, r.Dropped, r.TimeSqueeze, r.ReceivedRPS, r.FlowLimitCount, r.BacklogLen, r.CPU)
		}
		root = writeTree(t, map[string]string{"net/softnet_stat": text.String()})
		back, err := ReadSoftnet(root)
		if err != nil {
			t.Fatalf("printed file does not read: %v\n%s", err, text.String())
		}
		if !slices.Equal(rows, back) {
			t.Fatalf("round trip: %+v\nread back %+v", rows, back)
		}
	})
}

func FuzzReadSoftirqs(f *testing.F) {
	seedFiles(f, "testdata/*/proc/softirqs")
	f.Fuzz(func(t *testing.T, s string) {
		netRx, err := ReadSoftirqs(writeTree(t, map[string]string{"softirqs": s}))
		if err != nil {
			return
		}
		if len(netRx) >= fields(s) {
			t.Fatalf("%d CPUs from %d tokens", len(netRx), fields(s))
		}
		text := "CPU0\nNET_RX:"
		for _, n := range netRx {
			text += " " + strconv.FormatUint(n, 10)
		}
		back, err := ReadSoftirqs(writeTree(t, map[string]string{"softirqs": text + "\n"}))
		if err != nil || !slices.Equal(netRx, back) {
			t.Fatalf("round trip: %v, read back %v, %v", netRx, back, err)
		}
	})
}

// checkTop asserts what ReadUDPSockets and ParseUDP promise of their result.
func checkTop(t *testing.T, socks []model.UDPSocket) {
	t.Helper()
	if len(socks) > MaxUDPSockets {
		t.Fatalf("%d sockets, cap %d", len(socks), MaxUDPSockets)
	}
	for i, s := range socks {
		if s.Drops == 0 {
			t.Fatalf("socket %+v without drops", s)
		}
		if i > 0 && socks[i-1].Drops < s.Drops {
			t.Fatalf("not most drops first: %+v", socks)
		}
		if _, err := netip.ParseAddrPort(s.Local); err != nil {
			t.Fatalf("local %q: %v", s.Local, err)
		}
	}
}

func FuzzParseUDP(f *testing.F) {
	seedFiles(f, udpFixture+"/net/udp*")
	f.Fuzz(func(t *testing.T, s string) {
		socks, err := ParseUDP(strings.NewReader(s))
		if err != nil {
			return
		}
		checkTop(t, socks)
		// The kept sockets are the ones with the most drops of all.
		all := udpTop{max: math.MaxInt}
		if err := scanUDP(strings.NewReader(s), &all); err != nil {
			t.Fatal(err)
		}
		every := all.sockets()
		if len(every) > strings.Count(s, "\n") {
			t.Fatalf("%d sockets from %d lines", len(every), strings.Count(s, "\n")+1)
		}
		for i, s := range socks {
			if s.Drops != every[i].Drops {
				t.Fatalf("kept %+v, missing %+v", socks, every[:len(socks)])
			}
		}
	})
}

// diagAnswer prints s as the kernel's SOCK_DIAG_BY_FAMILY answer: inet_diag_msg, then
// INET_DIAG_SKMEMINFO with sk_rcvbuf and sk_drops set.
func diagAnswer(s diagSocket) []byte {
	b := make([]byte, inetDiagMsgLen+unix.SizeofRtAttr+4*unix.SK_MEMINFO_VARS)
	b[0] = s.family
	binary.BigEndian.PutUint16(b[4:], s.port)
	copy(b[8:24], s.addr[:])
	binary.NativeEndian.PutUint32(b[56:], s.rxQueue)
	binary.NativeEndian.PutUint32(b[68:], uint32(s.inode))
	a := b[inetDiagMsgLen:]
	binary.NativeEndian.PutUint16(a, uint16(len(a)))
	binary.NativeEndian.PutUint16(a[2:], inetDiagSKMemInfo)
	binary.NativeEndian.PutUint32(a[unix.SizeofRtAttr+4*unix.SK_MEMINFO_RCVBUF:], s.rcvBuf)
	binary.NativeEndian.PutUint32(a[unix.SizeofRtAttr+4*unix.SK_MEMINFO_DROPS:], uint32(s.drops))
	return b
}

// seedDiag adds every answer of the captured sock_diag dumps.
func seedDiag(f *testing.F) {
	for _, fam := range []string{"4", "6"} {
		b, err := os.ReadFile(diagFixture + fam + ".bin")
		if err != nil {
			f.Fatal(err)
		}
		if _, _, err := nldump.Answers(b, 1, func(m []byte) error { f.Add(bytes.Clone(m)); return nil }); err != nil {
			f.Fatal(err)
		}
	}
}

func FuzzParseUDPDiag(f *testing.F) {
	seedDiag(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseUDPDiag(b)
		if err != nil {
			return
		}
		if s.inode > math.MaxUint32 || s.drops > math.MaxUint32 {
			t.Fatalf("inode %d drops %d wider than the kernel's u32", s.inode, s.drops)
		}
		if _, err := netip.ParseAddrPort(s.local()); err != nil {
			t.Fatalf("local %q: %v", s.local(), err)
		}
		back, err := parseUDPDiag(diagAnswer(s))
		if err != nil || back != s {
			t.Fatalf("round trip: %+v, parsed back %+v, %v", s, back, err)
		}
	})
}

// FuzzReadUDPSocketsDump feeds whole sock_diag dumps (netlink framing included) to the
// sock_diag path of ReadUDPSockets.
func FuzzReadUDPSocketsDump(f *testing.F) {
	for _, fam := range []string{"4", "6"} {
		b, err := os.ReadFile(diagFixture + fam + ".bin")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		answers := 0
		dump := func(_ []uint8, fn func([]byte) error) error {
			_, _, err := nldump.Answers(b, 1, func(m []byte) error { answers++; return fn(m) })
			return err
		}
		socks, err := readUDPSockets(t.TempDir(), dump)
		if err != nil {
			return
		}
		checkTop(t, socks)
		if len(socks) > answers {
			t.Fatalf("%d sockets from %d answers", len(socks), answers)
		}
		for _, s := range socks {
			if s.Drops > math.MaxUint32 || !bytes.Contains(b, binary.NativeEndian.AppendUint32(nil, uint32(s.Drops))) {
				t.Fatalf("socket %+v: drops not in the dump", s)
			}
		}
	})
}

// sysctlKeys are the keys FuzzReadSysctls writes, one per path shape.
var sysctlKeys = map[string]string{
	"net.core.somaxconn":           "sys/net/core/somaxconn",
	"net.ipv4.tcp_rmem":            "sys/net/ipv4/tcp_rmem",
	"net.ipv4.conf.all.rp_filter":  "sys/net/ipv4/conf/all/rp_filter",
	"net.core.default_qdisc":       "sys/net/core/default_qdisc",
	"net.netfilter.nf_conntrack_x": "sys/net/netfilter/nf_conntrack_x",
}

func FuzzReadSysctls(f *testing.F) {
	seedFiles(f, "testdata/vm-6.18/proc/sys/net/core/*", "testdata/vm-6.18/proc/sys/net/ipv4/*_*")
	f.Fuzz(func(t *testing.T, s string) {
		files := map[string]string{}
		for _, p := range sysctlKeys {
			files[p] = s
		}
		m, err := ReadSysctls(writeTree(t, files), slices.Collect(maps.Keys(sysctlKeys)))
		if err != nil {
			t.Fatal(err) // every file exists and is readable
		}
		want := strings.Join(strings.Fields(s), " ")
		for k := range sysctlKeys {
			if m[k] != want {
				t.Fatalf("%s = %q, want %q", k, m[k], want)
			}
		}
	})
}

func FuzzReadRPS(f *testing.F) {
	f.Add("00000000,00000000,0000000f\n", "0\n")
	f.Add("0\n", "4096\n")
	for _, tree := range []string{"vm-6.18/sys/class/net/eth0", "mlx5-host/sys/class/net/ens1f0np0"} {
		cpus, err := os.ReadFile("testdata/" + tree + "/queues/rx-0/rps_cpus")
		if err != nil {
			f.Fatal(err)
		}
		cnt, err := os.ReadFile("testdata/" + tree + "/queues/rx-0/rps_flow_cnt")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(cpus), string(cnt))
	}
	f.Fuzz(func(t *testing.T, cpus, flowCnt string) {
		sys := writeTree(t, map[string]string{
			"class/net/eth0/queues/rx-0/rps_cpus":     cpus,
			"class/net/eth0/queues/rx-0/rps_flow_cnt": flowCnt,
		})
		d, err := OpenNetDir(sys)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		qs, err := d.RPS("eth0", 0, true)
		n, perr := strconv.ParseUint(strings.TrimSpace(flowCnt), 10, 32)
		switch {
		case len(cpus) >= 4096 || len(flowCnt) >= 4096:
			if err == nil {
				t.Fatal("a value larger than a page was read")
			}
		case perr != nil:
			if err == nil {
				t.Fatalf("rps_flow_cnt %q read as %+v", flowCnt, qs)
			}
		case err != nil:
			t.Fatal(err)
		case len(qs) != 1 || qs[0].RPSCPUs != strings.TrimSpace(cpus) || qs[0].RPSFlowCnt != uint32(n):
			t.Fatalf("read %+v from %q, %q", qs, cpus, flowCnt)
		}
	})
}

func FuzzIRQBalanceRunning(f *testing.F) {
	seedFiles(f, "testdata/irqbalance/proc/*/comm", "testdata/vm-6.18/proc/1/comm")
	f.Fuzz(func(t *testing.T, comm string) {
		running, err := IRQBalanceRunning(writeTree(t, map[string]string{"42/comm": comm}))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(comm) == "irqbalance"; running != want {
			t.Fatalf("comm %q: running %v", comm, running)
		}
	})
}
