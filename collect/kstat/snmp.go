package kstat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
		if err := readInto(filepath.Join(dir, name), m, parseTable); err != nil {
			return nil, err
		}
	}
	err := readInto(filepath.Join(dir, "snmp6"), m, parseSNMP6)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return m, nil
}

func readInto(path string, m map[string]uint64, parse func(io.Reader, map[string]uint64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := parse(f, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseSNMP parses the header/value line pairs of /proc/net/snmp or /proc/net/netstat
// ("Udp: InDatagrams NoPorts ..." then "Udp: 12 3 ..."). Negative values (Tcp MaxConn -1
// means "no limit") are skipped.
func ParseSNMP(r io.Reader) (map[string]uint64, error) {
	m := make(map[string]uint64, 256)
	return m, parseTable(r, m)
}

func parseTable(r io.Reader, m map[string]uint64) error {
	sc := bufio.NewScanner(r)
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
			return fmt.Errorf("%s: %d names but %d values (value line %q)", proto, len(nf), len(vf), vproto)
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

// ParseSNMP6 parses /proc/net/snmp6 ("Ip6InReceives 42" per line) into keys like
// "Ip6.InReceives", "Icmp6.OutType133", "UdpLite6.InErrors": the protocol is the name up to
// and including its first '6'.
func ParseSNMP6(r io.Reader) (map[string]uint64, error) {
	m := make(map[string]uint64, 128)
	return m, parseSNMP6(r, m)
}

func parseSNMP6(r io.Reader, m map[string]uint64) error {
	sc := bufio.NewScanner(r)
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
