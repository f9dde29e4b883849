package kstat

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nettune/nettune/model"
)

// NetFiles are the /proc/thread-self/net files besides SNMP that a namespace's readers read
// every sample (sockstat, sockstat6, stat/nf_conntrack), each opened once, inside the
// namespace, and read again with pread(2) as SNMPFiles are. With many namespaces, looking a
// /proc/net file up costs more than printing it. A file that does not exist (no IPv6, no
// conntrack module) is looked for again every retryAbsent reads: a module loaded later
// creates it in every namespace. As with SNMPFiles, text that did not change since the last
// read is not parsed again: the last result is returned (a copy of the sockstat, the same
// conntrack map, which callers must not change).
type NetFiles struct {
	dir   string
	files map[string]*netFile
	seed  maphash.Seed

	sockstatSums     [2]uint64
	sockstat         *model.Sockstat // the last result, nil until one
	conntrackSum     uint64
	conntrack        map[string]uint64
	conntrackEntries uint64
}

type netFile struct {
	f      *os.File // nil while absent
	buf    []byte
	absent int // reads since it was found absent
}

// retryAbsent: how many reads an absent file is not looked for.
const retryAbsent = 64

// NewNetFiles prepares the files of the calling thread's namespace; each is opened at its
// first read, which must be on a thread inside the same namespace.
func NewNetFiles(procRoot string) *NetFiles {
	return &NetFiles{dir: filepath.Join(netRoot(procRoot), "net"), files: map[string]*netFile{}, seed: maphash.MakeSeed()}
}

// read returns the file's text; fs.ErrNotExist when the file does not exist.
func (n *NetFiles) read(name string) ([]byte, error) {
	nf := n.files[name]
	if nf == nil {
		nf = &netFile{}
		n.files[name] = nf
	}
	if nf.f == nil {
		if nf.absent > 0 && nf.absent < retryAbsent {
			nf.absent++
			return nil, fs.ErrNotExist
		}
		f, err := os.Open(filepath.Join(n.dir, name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				nf.absent = 1
			}
			return nil, err
		}
		nf.f, nf.absent = f, 0
	}
	b, err := readAt0(nf.f, nf.buf)
	nf.buf = b
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nf.f.Name(), err)
	}
	return b, nil
}

// Sockstat is ReadSockstat from the kept files.
func (n *NetFiles) Sockstat() (*model.Sockstat, error) {
	var texts [2][]byte
	var sums [2]uint64
	for i, name := range []string{"sockstat", "sockstat6"} {
		b, err := n.read(name)
		if errors.Is(err, fs.ErrNotExist) && name == "sockstat6" {
			continue
		}
		if err != nil {
			n.sockstat = nil
			return nil, err
		}
		texts[i], sums[i] = b, maphash.Bytes(n.seed, b)
	}
	if n.sockstat != nil && sums == n.sockstatSums {
		st := *n.sockstat
		return &st, nil
	}
	st := &model.Sockstat{}
	for i, name := range []string{"sockstat", "sockstat6"} {
		if texts[i] == nil {
			continue
		}
		if err := parseSockstat(bytes.NewReader(texts[i]), st); err != nil {
			n.sockstat = nil
			return nil, fmt.Errorf("%s: %w", filepath.Join(n.dir, name), err)
		}
	}
	last := *st
	n.sockstat, n.sockstatSums = &last, sums
	return st, nil
}

// Conntrack is ReadConntrack from the kept file: nil without the conntrack module.
func (n *NetFiles) Conntrack() (map[string]uint64, error) {
	const name = "stat/nf_conntrack"
	b, err := n.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		n.conntrack = nil
		return nil, nil
	}
	if err != nil {
		n.conntrack = nil
		return nil, err
	}
	sum := maphash.Bytes(n.seed, b)
	if n.conntrack != nil && sum == n.conntrackSum {
		return n.conntrack, nil
	}
	m, entries, err := parseConntrack(bytes.NewReader(b))
	if err != nil {
		n.conntrack = nil
		return nil, fmt.Errorf("%s: %w", filepath.Join(n.dir, name), err)
	}
	n.conntrack, n.conntrackSum, n.conntrackEntries = m, sum, entries
	return m, nil
}

// ConntrackEntries is the table's entry count as the last Conntrack read found it (the
// file's gauge column, which is what the net.netfilter.nf_conntrack_count sysctl prints);
// false when that read found no table.
func (n *NetFiles) ConntrackEntries() (uint64, bool) {
	return n.conntrackEntries, n.conntrack != nil
}

// Close closes the files.
func (n *NetFiles) Close() {
	for name, nf := range n.files {
		if nf.f != nil {
			nf.f.Close()
		}
		delete(n.files, name)
	}
}
