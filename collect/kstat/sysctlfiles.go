package kstat

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// SysctlFiles are sysctl files opened once and read again with pread(2). An open
// /proc/sys/net file stays bound to the namespace it was opened in, so a thread that entered
// the namespace once can leave, and any thread reads the namespace's values afterwards. It
// also skips the lookup, which is what costs: /proc/sys dentries of every namespace share
// one name hash chain, so each component of a path walks the other namespaces' entries.
// Opening therefore walks each directory once and each file from its directory (openat),
// on raw descriptors (no os.File: its fstat and bookkeeping per file); with 500 namespaces
// that is about a quarter of the time of os.OpenFile by path (BenchmarkOpenSysctls500).
type SysctlFiles struct {
	keys []string
	fds  []int
	buf  []byte
}

// OpenSysctls opens the dotted keys under <proc>/sys as the calling thread's namespace sees
// them; keys that do not exist there are skipped, as in ReadSysctls. A key whose file is a
// symlink is an error. On an error every file opened so far is closed.
func OpenSysctls(procRoot string, keys []string) (*SysctlFiles, error) {
	s := &SysctlFiles{buf: make([]byte, 256)}
	dirs := map[string]int{}
	defer func() {
		for _, fd := range dirs {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for _, k := range keys {
		path := filepath.Join(procRoot, "sys", filepath.FromSlash(strings.ReplaceAll(k, ".", "/")))
		dir := filepath.Dir(path)
		dfd, ok := dirs[dir]
		if !ok {
			var err error
			dfd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			switch {
			case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
				dfd = -1
			case err != nil:
				s.Close()
				return nil, fmt.Errorf("sysctl %s: %w", k, &fs.PathError{Op: "open", Path: dir, Err: err})
			}
			dirs[dir] = dfd
		}
		if dfd < 0 {
			continue
		}
		fd, err := unix.Openat(dfd, filepath.Base(path), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case errors.Is(err, unix.ENOENT):
			continue
		case err != nil:
			s.Close()
			return nil, fmt.Errorf("sysctl %s: %w", k, &fs.PathError{Op: "open", Path: path, Err: err})
		}
		s.keys, s.fds = append(s.keys, k), append(s.fds, fd)
	}
	return s, nil
}

// Read reads every open key, values as ReadSysctls gives them. A key that cannot be read
// does not hide the others: the error names those that failed.
func (s *SysctlFiles) Read() (map[string]string, error) {
	m := make(map[string]string, len(s.keys))
	var errs []error
	for i, fd := range s.fds {
		n, err := unix.Pread(fd, s.buf, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s: %w", s.keys[i], err))
			continue
		}
		if n == len(s.buf) {
			errs = append(errs, fmt.Errorf("sysctl %s: value longer than %d bytes", s.keys[i], len(s.buf)))
			continue
		}
		m[s.keys[i]] = strings.Join(strings.Fields(string(s.buf[:n])), " ")
	}
	return m, errors.Join(errs...)
}

// Close closes every file.
func (s *SysctlFiles) Close() {
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.keys, s.fds = nil, nil
}
