package owner

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// SocketOwners maps socket inodes (sock_diag's idiag_inode) to the processes that hold them,
// from the socket:[INODE] links in <procRoot>/PID/fd. It scans pids (usually the processes
// of the socket's namespace), or every process under procRoot when pids is nil. A process
// that exits or closes its descriptors during the scan, or whose table cannot be read, is
// skipped; an inode with no owner found is absent from the map. Each PID appears once per
// inode, in scan order.
func SocketOwners(procRoot string, pids []int, inodes []uint64) (map[uint64][]int, error) {
	want := make(map[uint64]struct{}, len(inodes))
	for _, ino := range inodes {
		want[ino] = struct{}{}
	}
	if pids == nil {
		var err error
		if pids, err = allPIDs(procRoot); err != nil {
			return nil, err
		}
	}
	out := make(map[uint64][]int)
	var buf [64]byte
	var names []string
	for _, pid := range pids {
		fd, err := unix.Open(procRoot+"/"+strconv.Itoa(pid)+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		dir := os.NewFile(uintptr(fd), "fd")
		names, _ = dir.Readdirnames(-1)
		for _, name := range names {
			n, err := unix.Readlinkat(fd, name, buf[:])
			if err != nil {
				continue
			}
			ino, ok := socketInode(buf[:n])
			if !ok {
				continue
			}
			if _, ok := want[ino]; ok && !slices.Contains(out[ino], pid) {
				out[ino] = append(out[ino], pid)
			}
		}
		dir.Close()
	}
	return out, nil
}

// socketInode parses a descriptor link "socket:[12345]".
func socketInode(b []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(b) < len(prefix)+2 || string(b[:len(prefix)]) != prefix || b[len(b)-1] != ']' {
		return 0, false
	}
	ino, err := strconv.ParseUint(string(b[len(prefix):len(b)-1]), 10, 64)
	return ino, err == nil
}

func allPIDs(procRoot string) ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}
