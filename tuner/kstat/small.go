package kstat

import (
	"bytes"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// readValue reads a one-value sysfs or procfs file with open, read and close only and
// returns its text without surrounding space: os.ReadFile adds an fstat, fcntl calls and a
// netpoller registration per file, which at 1 000 links is thousands of syscalls (about
// 1 µs each in a VM). Such files fit in one page, read into a stack buffer: only the value
// is allocated.
func readValue(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var buf [4096]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return "", &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if n == len(buf) {
		return "", fmt.Errorf("%s: larger than one page", path)
	}
	return string(bytes.TrimSpace(buf[:n])), nil
}
