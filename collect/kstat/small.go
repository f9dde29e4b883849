package kstat

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// readValue reads a one-value sysfs or procfs file with open, read and close only and
// returns its text without surrounding space: os.ReadFile adds an fstat, fcntl calls and a
// netpoller registration per file, which at 1 000 links is thousands of syscalls (about
// 1 µs each in a VM). Such files fit in one page, read into a stack buffer: only the value
// is allocated.
func readValue(path string) (string, error) {
	return readValueAt(unix.AT_FDCWD, "", path)
}

// readValueAt is readValue of rel under the directory open as dirfd; dir is that directory's
// path, for errors.
func readValueAt(dirfd int, dir, rel string) (string, error) {
	fd, err := unix.Openat(dirfd, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: filepath.Join(dir, rel), Err: err}
	}
	defer unix.Close(fd)
	var buf [4096]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return "", &fs.PathError{Op: "read", Path: filepath.Join(dir, rel), Err: err}
	}
	if n == len(buf) {
		return "", fmt.Errorf("%s: larger than one page", filepath.Join(dir, rel))
	}
	return string(bytes.TrimSpace(buf[:n])), nil
}
