package owner

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Process is one process of a namespace.
type Process struct {
	PID    int
	Comm   string
	Cgroup Cgroup
}

// ReadProcess reads a process's comm and cgroup from <procRoot>/PID. A process that exited
// gives an error wrapping os.ErrNotExist (or ESRCH).
func ReadProcess(procRoot string, pid int) (Process, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	buf := bufs.Get().(*[4096]byte) // both files fit; a cgroup file that does not is read whole
	defer bufs.Put(buf)
	comm, err := readSmall(filepath.Join(dir, "comm"), buf[:])
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	p := Process{PID: pid, Comm: string(bytes.TrimSuffix(comm, []byte("\n")))}
	cgroup, err := readSmall(filepath.Join(dir, "cgroup"), buf[:])
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if p.Cgroup, err = parseProcCgroup(cgroup); err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return p, nil
}

var bufs = sync.Pool{New: func() any { return new([4096]byte) }}

// readSmall reads a file into buf, or whole into a new slice when it does not fit.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
	return os.ReadFile(path)
}
