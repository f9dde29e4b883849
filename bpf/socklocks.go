package bpf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// lockRecordLen is sizeof(struct lock_record) in socklocks.c: the inode, then the locks.
const lockRecordLen = 16

// SockLocks are the socket iterators of socklocks.c, loaded and linked once. They answer
// whether an application fixed a socket's buffer size (SO_SNDBUF, SO_RCVBUF), a fact of the
// socket (sk_userlocks) that no counter or sock_diag attribute carries. It implements
// kstat.LockReader.
type SockLocks struct {
	objs     socklocksObjects
	tcp, udp *link.Iter
}

// LoadSockLocks loads the iterators. It needs kernel BTF (the programs are CO-RE) and the
// privileges of a tracing program (root, or CAP_BPF with CAP_PERFMON); where it fails the
// locks stay unknown.
func LoadSockLocks() (*SockLocks, error) { return loadSockLocks(nil) }

// loadSockLocks loads with opts: tests relocate against other kernel types.
func loadSockLocks(opts *ebpf.CollectionOptions) (*SockLocks, error) {
	l := &SockLocks{}
	if err := loadSocklocksObjects(&l.objs, opts); err != nil {
		return nil, fmt.Errorf("load socket iterators: %w", err)
	}
	var err error
	if l.tcp, err = link.AttachIter(link.IterOptions{Program: l.objs.NettuneLocksTcp}); err == nil {
		l.udp, err = link.AttachIter(link.IterOptions{Program: l.objs.NettuneLocksUdp})
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("link socket iterators: %w", err)
	}
	return l, nil
}

// BufferLocks returns, for each inode asked about, the locks of that TCP or UDP socket of
// the calling thread's network namespace: SOCK_SNDBUF_LOCK (1), SOCK_RCVBUF_LOCK (2), or 0
// for a socket whose application set neither (or that is gone). The kernel lists the sockets
// of the namespace of the thread that opens the iterator, so call it on a locked thread
// inside the namespace (netns.Do).
func (l *SockLocks) BufferLocks(inodes []uint64) (map[uint64]uint8, error) {
	out := make(map[uint64]uint8, len(inodes))
	for _, i := range inodes {
		out[i] = 0
	}
	for _, it := range []struct {
		name string
		it   *link.Iter
	}{{"tcp", l.tcp}, {"udp", l.udp}} {
		rc, err := it.it.Open()
		if err != nil {
			return nil, fmt.Errorf("open %s socket iterator: %w", it.name, err)
		}
		err = readLockRecords(rc, out)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s socket iterator: %w", it.name, err)
		}
	}
	return out, nil
}

// readLockRecords adds the locks of the records in r to the inodes of out.
func readLockRecords(r io.Reader, out map[uint64]uint8) error {
	br := bufio.NewReaderSize(r, 64*lockRecordLen)
	var rec [lockRecordLen]byte
	for {
		_, err := io.ReadFull(br, rec[:])
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // io.ErrUnexpectedEOF: a torn record
		}
		ino := binary.NativeEndian.Uint64(rec[:])
		if locks, ok := out[ino]; ok {
			out[ino] = locks | rec[8]
		}
	}
}

// Close detaches and unloads the iterators.
func (l *SockLocks) Close() error {
	var errs []error
	for _, it := range []*link.Iter{l.tcp, l.udp} {
		if it != nil {
			errs = append(errs, it.Close())
		}
	}
	errs = append(errs, l.objs.Close())
	return errors.Join(errs...)
}
