package kstat

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// SNMPFiles are a namespace's snmp, netstat and snmp6 files opened once and read again with
// pread(2), as SysctlFiles are: an open /proc/net file stays bound to the namespace it was
// opened in (a sampler of many namespaces enters each once), and a read at offset 0 makes
// the kernel print the counters anew.
//
// A quiet namespace prints the same text sample after sample. Read keeps a hash of what the
// files printed and, when none changed, returns the map of the last read again instead of
// parsing a new one: with 500 namespaces, parsing and building the maps was a third of a
// sample's CPU. Callers must not change a map Read returned.
type SNMPFiles struct {
	files [3]*os.File // snmp, netstat, snmp6 (nil when IPv6 is disabled)
	seed  maphash.Seed
	sums  [3]uint64         // hashes of the text behind last
	last  map[string]uint64 // nil until a read succeeded
	same  bool              // the last Read returned the map of the one before
}

// Unchanged reports whether the last Read found every file as the Read before it did.
func (s *SNMPFiles) Unchanged() bool { return s.same }

// OpenSNMP opens <proc>/thread-self/net/{snmp,netstat,snmp6} of the calling thread's
// namespace, as ReadSNMP reads them.
func OpenSNMP(procRoot string) (*SNMPFiles, error) {
	dir := filepath.Join(netRoot(procRoot), "net")
	s := &SNMPFiles{seed: maphash.MakeSeed()}
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

// Read reads the counters into one map, keyed as ReadSNMP keys them: the map of the last
// Read when no file printed anything else since.
func (s *SNMPFiles) Read() (map[string]uint64, error) { return s.read(false) }

// ReadIdle is Read for a namespace none of whose links counted a packet since the last read.
// When snmp prints what it printed then, no packet crossed the IP layer either: netstat and
// snmp6 are not read and the last map is returned. What they count without a packet (TCP
// timers firing with nothing to send) is read at the namespace's next packet; as counters
// they lose nothing, they are only late.
func (s *SNMPFiles) ReadIdle() (map[string]uint64, error) { return s.read(true) }

func (s *SNMPFiles) read(idle bool) (map[string]uint64, error) {
	bufs := textBufs.Get().(*[3][]byte)
	defer textBufs.Put(bufs)
	var sums [3]uint64
	for i, f := range s.files {
		if f == nil {
			continue
		}
		b, err := readAt0(f, bufs[i])
		bufs[i] = b
		if err != nil {
			s.last, s.same = nil, false
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		sums[i] = maphash.Bytes(s.seed, b)
		if i == 0 && idle && s.last != nil && sums[0] == s.sums[0] {
			s.same = true
			return s.last, nil
		}
	}
	s.same = s.last != nil && sums == s.sums
	if s.same {
		return s.last, nil
	}
	m := make(map[string]uint64, max(len(s.last), 256))
	for i, f := range s.files {
		if f == nil {
			continue
		}
		parse := parseTableText
		if i == 2 {
			parse = parseSNMP6Text
		}
		if err := parse(bufs[i], m); err != nil {
			s.last = nil
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	s.sums, s.last = sums, m
	return m, nil
}

// textBufs hold the files' text while a read hashes and parses it: shared by every
// namespace's SNMPFiles (a node's readers run a few at a time), not kept by each.
var textBufs = sync.Pool{New: func() any { return new([3][]byte) }}

// readAt0 reads f from offset 0 into buf's storage, growing it when the file is longer.
func readAt0(f *os.File, buf []byte) ([]byte, error) {
	buf = buf[:cap(buf)]
	if len(buf) == 0 {
		buf = make([]byte, 4<<10)
	}
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
			return buf[:n], err
		}
	}
	return buf[:n], nil
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
