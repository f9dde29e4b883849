package kstat

import (
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// readSmall reads a one-value sysfs or procfs file with open, read and close only: os.ReadFile
// adds an fstat, fcntl calls and a netpoller registration per file, which at 1 000 links is
// thousands of syscalls (about 1 µs each in a VM). Such files fit in one page.
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if n == len(buf) {
		return nil, fmt.Errorf("%s: larger than one page", path)
	}
	return buf[:n], nil
}
