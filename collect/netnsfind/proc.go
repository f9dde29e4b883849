package netnsfind

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// processScan is what the process table says: the processes of each namespace inode, the
// host's inode (PID 1's) and the nsfs device.
type processScan struct {
	byIno map[uint64][]int
	host  uint64
	dev   uint64
}

// scanProcesses reads the namespace link of every process under procRoot. A process that
// exits during the scan, or whose link cannot be read, is left out.
func scanProcesses(procRoot string) (processScan, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return processScan{}, fmt.Errorf("processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return processScan{}, fmt.Errorf("processes: %w", err)
	}
	s := processScan{byIno: make(map[uint64][]int)}
	dirfd := int(d.Fd())
	var buf [64]byte
	for _, name := range names {
		pid, ok := atoi(name)
		if !ok {
			continue
		}
		// readlinkat on the open /proc: no stat of the namespace, no path walk from /.
		n, err := unix.Readlinkat(dirfd, name+"/ns/net", buf[:])
		if err != nil {
			continue
		}
		ino, ok := linkInode(buf[:n])
		if !ok {
			continue
		}
		s.byIno[ino] = append(s.byIno[ino], pid)
		switch {
		case pid == 1:
			s.host = ino
		case pid == 2 && s.host == 0 && isKthreadd(dirfd):
			s.host = ino
		}
	}
	var st unix.Stat_t
	if unix.Fstatat(dirfd, "self/ns/net", &st, 0) == nil && st.Ino != 0 {
		s.dev = st.Dev // the one nsfs superblock (a fixture tree has only a dangling link)
	}
	return s, nil
}

// isKthreadd reports whether PID 2 is the kernel's thread creator. Kernel threads are always
// in the initial namespace; PID 1's links cannot be read when PID 1 runs in a user namespace
// above the reader's (seen in sandboxed VMs), and there kthreadd stands in for it. In a PID
// namespace PID 2 is an ordinary process and this is false.
func isKthreadd(dirfd int) bool {
	fd, err := unix.Openat(dirfd, "2/comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var b [16]byte
	n, _ := unix.Read(fd, b[:])
	return n > 0 && string(b[:n]) == "kthreadd\n"
}

// linkInode parses the target of a /proc/PID/ns/net link, "net:[4026531840]".
func linkInode(b []byte) (uint64, bool) {
	const prefix = "net:["
	if len(b) < len(prefix)+2 || string(b[:len(prefix)]) != prefix || b[len(b)-1] != ']' {
		return 0, false
	}
	var ino uint64
	for _, c := range b[len(prefix) : len(b)-1] {
		if c < '0' || c > '9' || ino > math.MaxUint64/10 {
			return 0, false
		}
		ino = ino*10 + uint64(c-'0')
	}
	return ino, ino != 0
}

// atoi parses a /proc entry name that is a PID.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0
}
