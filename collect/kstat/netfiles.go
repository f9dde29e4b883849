package kstat

import (
	"bytes"
	"errors"
	"fmt"
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
// creates it in every namespace.
type NetFiles struct {
	dir   string
	files map[string]*netFile
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
	return &NetFiles{dir: filepath.Join(netRoot(procRoot), "net"), files: map[string]*netFile{}}
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
	st := &model.Sockstat{}
	for _, name := range []string{"sockstat", "sockstat6"} {
		b, err := n.read(name)
		if errors.Is(err, fs.ErrNotExist) && name == "sockstat6" {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := parseSockstat(bytes.NewReader(b), st); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(n.dir, name), err)
		}
	}
	return st, nil
}

// Conntrack is ReadConntrack from the kept file: nil without the conntrack module.
func (n *NetFiles) Conntrack() (map[string]uint64, error) {
	const name = "stat/nf_conntrack"
	b, err := n.read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := ParseConntrack(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(n.dir, name), err)
	}
	return m, nil
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
