package kstat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// These are parsed by hand: procfs's Proc.Snmp/Netstat fill typed structs and silently drop
// every field they do not know (TcpExt.TCPBacklogDrop on 6.18, for one), while the rules need
// every counter the running kernel prints.

// ReadSNMP reads <proc>/thread-self/net/{snmp,netstat,snmp6} of the calling thread's network
// namespace into one map keyed "Proto.Field" ("Udp.RcvbufErrors", "TcpExt.TCPBacklogDrop",
// "Ip6.InReceives"). snmp6 is absent when IPv6 is disabled; that is not an error.
func ReadSNMP(procRoot string) (map[string]uint64, error) {
	dir := filepath.Join(netRoot(procRoot), "net")
	m := make(map[string]uint64, 512)
	for _, name := range []string{"snmp", "netstat"} {
		if err := readInto(filepath.Join(dir, name), m, parseTableText); err != nil {
			return nil, err
		}
	}
	err := readInto(filepath.Join(dir, "snmp6"), m, parseSNMP6Text)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return m, nil
}

func readInto(path string, m map[string]uint64, parse func([]byte, map[string]uint64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := parseAll(f, m, parse); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseSNMP parses the header/value line pairs of /proc/net/snmp or /proc/net/netstat
// ("Udp: InDatagrams NoPorts ..." then "Udp: 12 3 ..."). Negative values (Tcp MaxConn -1
// means "no limit") are skipped.
func ParseSNMP(r io.Reader) (map[string]uint64, error) {
	m := make(map[string]uint64, 256)
	return m, parseAll(r, m, parseTableText)
}

// parseAll parses r's whole text into m.
func parseAll(r io.Reader, m map[string]uint64, parse func([]byte, map[string]uint64) error) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return parse(b, m)
}

// parseTableText is ParseSNMP on the file's text. It walks the text in place and takes
// its keys from snmpKeys: a namespace's files are parsed at every sample that moved, and
// with 500 namespaces the lines, fields and keys of a line-scanner parse were most of a
// sample's garbage (BenchmarkParseSNMPFiles, against the scanner's parse in the tests).
func parseTableText(b []byte, m map[string]uint64) error {
	var keys snmpKeyBuf
	defer keys.publish()
	for len(b) > 0 {
		var head, vals []byte
		head, b = nextLine(b)
		proto, names, ok := bytes.Cut(head, []byte{':'})
		if !ok {
			if len(bytes.TrimSpace(proto)) == 0 {
				continue
			}
			return fmt.Errorf("line without protocol: %q", proto)
		}
		if len(b) == 0 {
			return fmt.Errorf("%s: header without value line", proto)
		}
		vals, b = nextLine(b)
		vproto, values, _ := bytes.Cut(vals, []byte{':'})
		if !bytes.Equal(vproto, proto) {
			return fmt.Errorf("%s: value line of %q", proto, vproto)
		}
		for ns, vs := names, values; ; {
			var name, val []byte
			name, ns = nextField(ns)
			val, vs = nextField(vs)
			if name == nil || val == nil {
				if name != nil || val != nil {
					return fmt.Errorf("%s: %d names but %d values", proto, countFields(names), countFields(values))
				}
				break
			}
			v, skip, err := parseCounter(val)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", proto, name, err)
			}
			if !skip {
				m[keys.key(proto, '.', name)] = v
			}
		}
	}
	return nil
}

// ParseSNMP6 parses /proc/net/snmp6 ("Ip6InReceives 42" per line) into keys like
// "Ip6.InReceives", "Icmp6.OutType133", "UdpLite6.InErrors": the protocol is the name up to
// and including its first '6'.
func ParseSNMP6(r io.Reader) (map[string]uint64, error) {
	m := make(map[string]uint64, 128)
	return m, parseAll(r, m, parseSNMP6Text)
}

// parseSNMP6Text is ParseSNMP6 on the file's text, in place as parseTableText.
func parseSNMP6Text(b []byte, m map[string]uint64) error {
	var keys snmpKeyBuf
	defer keys.publish()
	for len(b) > 0 {
		var l []byte
		l, b = nextLine(b)
		name, rest := nextField(l)
		if name == nil {
			continue
		}
		val, rest := nextField(rest)
		extra, _ := nextField(rest)
		i := bytes.IndexByte(name, '6')
		if val == nil || extra != nil || i < 0 || i == len(name)-1 {
			return fmt.Errorf("malformed line %q", l)
		}
		v, ok := plainDecimal(val)
		if !ok {
			var err error
			if v, err = strconv.ParseUint(string(val), 10, 64); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		m[keys.key(name[:i+1], '.', name[i+1:])] = v
	}
	return nil
}

// nextLine splits off b's first line as bufio.ScanLines does: without its newline and a
// carriage return before it.
func nextLine(b []byte) (line, rest []byte) {
	line, rest, _ = bytes.Cut(b, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// nextField splits off b's first field as strings.Fields splits: at ASCII white space, and
// at Unicode spaces outside ASCII (which /proc never prints); nil when there is none.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) {
		n := spaceLen(b, i)
		if n == 0 {
			break
		}
		i += n
	}
	if i == len(b) {
		return nil, nil
	}
	j := i
	for j < len(b) {
		if c := b[j]; c < utf8.RuneSelf {
			if asciiSpace[c] {
				break
			}
			j++
			continue
		}
		r, n := utf8.DecodeRune(b[j:])
		if unicode.IsSpace(r) {
			break
		}
		j += n
	}
	return b[i:j], b[j:]
}

var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// spaceLen is the length of the space character at b[i], 0 when there is none.
func spaceLen(b []byte, i int) int {
	if c := b[i]; c < utf8.RuneSelf {
		if asciiSpace[c] {
			return 1
		}
		return 0
	}
	r, n := utf8.DecodeRune(b[i:])
	if unicode.IsSpace(r) {
		return n
	}
	return 0
}

func countFields(b []byte) int {
	n := 0
	for f, rest := nextField(b); f != nil; f, rest = nextField(rest) {
		n++
	}
	return n
}

// parseCounter parses a counter's decimal value; skip is a negative one (Tcp MaxConn -1
// means "no limit").
func parseCounter(b []byte) (v uint64, skip bool, err error) {
	if v, ok := plainDecimal(b); ok {
		return v, false, nil
	}
	if len(b) > 1 && b[0] == '-' {
		if v, ok := plainDecimal(b[1:]); ok && v > 0 && v <= 1<<63 {
			return 0, true, nil
		}
	}
	s := string(b)
	v, err = strconv.ParseUint(s, 10, 64)
	if err != nil {
		if n, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && n < 0 {
			return 0, true, nil
		}
		return 0, false, err
	}
	return v, false, nil
}

// plainDecimal parses up to 19 digits (which cannot overflow) in place; anything else is
// left to strconv.
func plainDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
