package kstat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SNMPFiles are a namespace's snmp, netstat and snmp6 files opened once and read again with
// pread(2), as SysctlFiles are: an open /proc/net file stays bound to the namespace it was
// opened in (a sampler of many namespaces enters each once), and a read at offset 0 makes
// the kernel print the counters anew.
type SNMPFiles struct {
	files [3]*os.File // snmp, netstat, snmp6 (nil when IPv6 is disabled)
	buf   []byte
}

// OpenSNMP opens <proc>/thread-self/net/{snmp,netstat,snmp6} of the calling thread's
// namespace, as ReadSNMP reads them.
func OpenSNMP(procRoot string) (*SNMPFiles, error) {
	dir := filepath.Join(netRoot(procRoot), "net")
	s := &SNMPFiles{buf: make([]byte, 16<<10)}
	for i, name := range []string{"snmp", "netstat", "snmp6"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			if i == 2 && errors.Is(err, fs.ErrNotExist) {
				break
			}
			s.Close()
			return nil, err
		}
		s.files[i] = f
	}
	return s, nil
}

// Read reads the counters into one map, keyed as ReadSNMP keys them.
func (s *SNMPFiles) Read() (map[string]uint64, error) {
	m := make(map[string]uint64, 512)
	for i, f := range s.files {
		if f == nil {
			continue
		}
		if err := s.readAll(f); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		parse := parseTable
		if i == 2 {
			parse = parseSNMP6
		}
		if err := parse(bytes.NewReader(s.buf), m); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	return m, nil
}

// readAll reads f from offset 0 into s.buf, growing it when the file is longer.
func (s *SNMPFiles) readAll(f *os.File) error {
	buf := s.buf[:cap(s.buf)]
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		k, err := f.ReadAt(buf[n:], int64(n))
		n += k
		if errors.Is(err, io.EOF) || err == nil && k == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	s.buf = buf[:n]
	return nil
}

// Close closes the files.
func (s *SNMPFiles) Close() {
	for i, f := range s.files {
		if f != nil {
			f.Close()
			s.files[i] = nil
		}
	}
}
