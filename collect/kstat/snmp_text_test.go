package kstat

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The SNMP parsers walk the text in place (parseTableText, parseSNMP6Text). scanTable and
// scanSNMP6 are the plain line-scanner parse they replaced: the reference FuzzSNMPText
// holds them to, and the other side of BenchmarkParseSNMPFiles.

func scanTable(s string, m map[string]uint64) error {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		proto, names, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(proto) == "" {
				continue
			}
			return fmt.Errorf("line without protocol: %q", proto)
		}
		if !sc.Scan() {
			return fmt.Errorf("%s: header without value line", proto)
		}
		vproto, values, _ := strings.Cut(sc.Text(), ":")
		nf, vf := strings.Fields(names), strings.Fields(values)
		if vproto != proto || len(nf) != len(vf) {
			return fmt.Errorf("%s: %d names but %d values", proto, len(nf), len(vf))
		}
		for i, name := range nf {
			v, err := strconv.ParseUint(vf[i], 10, 64)
			if err != nil {
				if n, ierr := strconv.ParseInt(vf[i], 10, 64); ierr == nil && n < 0 {
					continue
				}
				return fmt.Errorf("%s.%s: %w", proto, name, err)
			}
			m[proto+"."+name] = v
		}
	}
	return sc.Err()
}

func scanSNMP6(s string, m map[string]uint64) error {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		i := strings.IndexByte(f[0], '6')
		if len(f) != 2 || i < 0 || i == len(f[0])-1 {
			return fmt.Errorf("malformed line %q", sc.Text())
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
		m[f[0][:i+1]+"."+f[0][i+1:]] = v
	}
	return sc.Err()
}

// FuzzSNMPText: the in-place parsers accept what the line scanner accepts, with the same
// counters, and refuse what it refuses (but lines over the scanner's 64 KiB limit).
func FuzzSNMPText(f *testing.F) {
	seedFiles(f, "testdata/*/proc/net/snmp", "testdata/*/proc/net/netstat", "testdata/*/proc/thread-self/net/snmp",
		"testdata/*/proc/thread-self/net/netstat", "testdata/*/proc/net/snmp6", "testdata/*/proc/thread-self/net/snmp6")
	f.Add("Tcp: RtoMin MaxConn\nTcp: 200 -1\r\n\nIp: A B\nIp: +1 -0\n")
	f.Add("Ip6InReceives 12\u00a0\nUdp6InErrors\v007\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []struct {
			name string
			text func([]byte, map[string]uint64) error
			scan func(string, map[string]uint64) error
		}{{"table", parseTableText, scanTable}, {"snmp6", parseSNMP6Text, scanSNMP6}} {
			got, want := map[string]uint64{}, map[string]uint64{}
			err, werr := p.text([]byte(s), got), p.scan(s, want)
			if errors.Is(werr, bufio.ErrTooLong) {
				continue
			}
			if (err == nil) != (werr == nil) {
				t.Fatalf("%s: in place %v, scanner %v", p.name, err, werr)
			}
			if err == nil && !maps.Equal(got, want) {
				t.Fatalf("%s: in place %v, scanner %v", p.name, got, want)
			}
		}
	})
}

func snmpFixture(tb testing.TB) [3][]byte {
	var files [3][]byte
	for i, name := range []string{"snmp", "netstat", "snmp6"} {
		b, err := os.ReadFile(filepath.Join("testdata/vm-6.18/proc/thread-self/net", name))
		if err != nil {
			tb.Fatal(err)
		}
		files[i] = b
	}
	return files
}

// TestSNMPTextAllocates: once the key table knows a kernel's names, parsing its files
// allocates nothing but what the map needs.
func TestSNMPTextAllocates(t *testing.T) {
	files := snmpFixture(t)
	m := map[string]uint64{}
	parse := func() {
		for i, b := range files {
			parse := parseTableText
			if i == 2 {
				parse = parseSNMP6Text
			}
			if err := parse(b, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	parse()
	if n := testing.AllocsPerRun(20, parse); n != 0 {
		t.Fatalf("%v allocations a parse of snmp, netstat and snmp6, want 0", n)
	}
}

// BenchmarkParseSNMPFiles parses a 6.18 namespace's snmp, netstat and snmp6 into a new map,
// as a namespace whose counters moved is parsed at each sample: in place, and with the line
// scanner it replaced.
func BenchmarkParseSNMPFiles(b *testing.B) {
	files := snmpFixture(b)
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := make(map[string]uint64, 512)
			_ = parseTableText(files[0], m)
			_ = parseTableText(files[1], m)
			_ = parseSNMP6Text(files[2], m)
		}
	})
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		text := [3]string{string(files[0]), string(files[1]), string(files[2])}
		for b.Loop() {
			m := make(map[string]uint64, 512)
			_ = scanTable(text[0], m)
			_ = scanTable(text[1], m)
			_ = scanSNMP6(text[2], m)
		}
	})
}
