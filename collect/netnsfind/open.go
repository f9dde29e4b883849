package netnsfind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Handle is an open namespace file checked to be the namespace discovery found. The
// namespace exists at least until the handle is closed, even if everything else in it goes.
type Handle struct {
	f   *os.File
	ID  ID
	Via string // the path it was opened through: a bind mount or /proc/PID/ns/net
}

// Fd is the namespace file descriptor, for setns(2), netlink.NewHandleAt or go-tc's NetNS.
func (h *Handle) Fd() int { return int(h.f.Fd()) }

// Path names exactly this namespace for code that opens a path (internal/netns.Do and
// NewThread take any path with a slash) until the handle is closed: /proc/self/fd/N.
func (h *Handle) Path() string { return "/proc/self/fd/" + strconv.Itoa(h.Fd()) }

// Close releases the namespace.
func (h *Handle) Close() error { return h.f.Close() }

// Open opens the namespace through its bind mounts, else through /proc/PID/ns/net of its
// processes, and keeps the first file that is still this namespace: a PID may have been
// reused by a process in another namespace, and a mount path may have been remounted. When
// nothing discovery found leads to the namespace any more, the error wraps ErrGone.
func (n *Namespace) Open() (*Handle, error) {
	var other error
	try := func(path string, flags int) *Handle {
		f, err := os.OpenFile(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err != nil {
			if !gone(err) && other == nil {
				other = err
			}
			return nil
		}
		if id, ok := nsfsID(f); ok && id.Ino == n.ID.Ino && (n.ID.Dev == 0 || id.Dev == n.ID.Dev) {
			return &Handle{f: f, ID: id, Via: path}
		}
		f.Close()
		return nil
	}
	for _, m := range n.Mounts {
		// A bind mount is a file, never a symlink: do not follow one planted in its place.
		if h := try(m, unix.O_NOFOLLOW); h != nil {
			return h, nil
		}
	}
	for _, pid := range n.PIDs {
		if h := try(filepath.Join(n.procRoot, strconv.Itoa(pid), "ns", "net"), 0); h != nil {
			return h, nil
		}
	}
	if other != nil {
		return nil, fmt.Errorf("open netns %s: %w", n.ID, other)
	}
	return nil, fmt.Errorf("%w: %s", ErrGone, n.ID)
}

// nsfsID returns the identity of an open file if it is a namespace file.
func nsfsID(f *os.File) (ID, bool) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return ID{}, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ID{}, false
	}
	return ID{Dev: st.Dev, Ino: st.Ino}, true
}

// gone reports errors that mean the path no longer leads anywhere: the process exited (ENOENT,
// ESRCH), or the mount was removed and its directory with it.
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH)
}
