// Package fsx opens the files a root process reads back (its own state) without following
// symbolic links, and only when their owner and mode show that nobody but root or the running
// user could have written them; and it replaces files atomically. Every access below a Dir
// goes through the directory's descriptor (openat, renameat), so the checks made when the
// directory was opened hold for everything done in it.
package fsx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrUnsafe matches every UnsafeError: a path nettune refuses to trust.
var ErrUnsafe = errors.New("untrusted path")

// UnsafeError names the path that failed a check and why.
type UnsafeError struct {
	Path string
	Why  string
}

func (e *UnsafeError) Error() string        { return "refusing " + e.Path + ": " + e.Why }
func (e *UnsafeError) Is(target error) bool { return target == ErrUnsafe }

func unsafe(path, format string, a ...any) error {
	return &UnsafeError{Path: path, Why: fmt.Sprintf(format, a...)}
}

// trustedOwner: root, or the user nettune runs as (whose files only that user and root can
// change anyway).
func trustedOwner(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

func ownerWhy(uid uint32) string {
	if os.Geteuid() == 0 {
		return fmt.Sprintf("owned by uid %d, not root", uid)
	}
	return fmt.Sprintf("owned by uid %d, neither root nor uid %d", uid, os.Geteuid())
}

// checkStat is the check every trusted object passes: owner, no write bit for group or
// others, and the expected type. Directories that are ancestors may be sticky instead
// (/tmp): there only an entry's owner can rename or remove it.
func checkStat(path string, st *unix.Stat_t, wantType uint32, ancestor bool) error {
	if st.Mode&unix.S_IFMT != wantType {
		if wantType == unix.S_IFDIR {
			return unsafe(path, "not a directory")
		}
		return unsafe(path, "not a regular file")
	}
	if !trustedOwner(st.Uid) {
		return unsafe(path, "%s", ownerWhy(st.Uid))
	}
	if st.Mode&0o022 != 0 && !(ancestor && st.Mode&unix.S_ISVTX != 0) {
		return unsafe(path, "writable by group or others (mode %04o)", st.Mode&0o7777)
	}
	if wantType == unix.S_IFREG && st.Nlink != 1 {
		return unsafe(path, "has %d hard links", st.Nlink)
	}
	return nil
}

// walk opens every directory of the absolute, symlink-free path from / down, each relative
// to its parent and without following links, checking each as an ancestor. It returns an
// O_PATH descriptor of the last one.
func walk(path string) (int, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	cur := "/"
	if err := fstatCheck(fd, cur, unix.S_IFDIR, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	for _, name := range splitPath(path) {
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		cur = filepath.Join(cur, name)
		if err != nil {
			return -1, openErr(cur, err)
		}
		fd = next
		if err := fstatCheck(fd, cur+" (a parent directory)", unix.S_IFDIR, true); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func splitPath(path string) []string {
	var out []string
	for path != "/" && path != "." && path != "" {
		dir, base := filepath.Split(path)
		out = append([]string{base}, out...)
		path = filepath.Clean(dir)
	}
	return out
}

func fstatCheck(fd int, path string, wantType uint32, ancestor bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return checkStat(path, &st, wantType, ancestor)
}

// openErr turns an openat error into a clear one: a symlink where O_NOFOLLOW refused it is
// unsafe, everything else keeps its errno (so os.ErrNotExist and os.ErrPermission match).
func openErr(path string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		return unsafe(path, "a symbolic link")
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}

// Dir is a trusted directory, opened once; files in it are opened relative to it.
type Dir struct {
	f    *os.File
	path string
}

// OpenDir opens an existing directory that must be trusted along with every parent.
func OpenDir(path string) (*Dir, error) { return openDir(path, false, 0) }

// CreateDir is OpenDir that first creates the directory with mode perm when it is missing
// (missing parents get 0755). An existing directory keeps its mode.
func CreateDir(path string, perm os.FileMode) (*Dir, error) { return openDir(path, true, perm) }

func openDir(path string, create bool, perm os.FileMode) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	parent, base := filepath.Split(abs)
	if base == "" {
		return nil, unsafe(abs, "the root directory cannot hold state")
	}
	parent = filepath.Clean(parent)
	if create {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
	}
	// A parent given through symlinks (/var/run → /run) is checked where it resolves to.
	real, err := filepath.EvalSymlinks(parent)
	if err != nil {
		return nil, err
	}
	pfd, err := walk(real)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	if create {
		if err := unix.Mkdirat(pfd, base, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, &os.PathError{Op: "mkdir", Path: abs, Err: err}
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			if isSymlinkAt(pfd, base) {
				return nil, unsafe(abs, "a symbolic link")
			}
			return nil, unsafe(abs, "not a directory")
		}
		return nil, openErr(abs, err)
	}
	if err := fstatCheck(fd, abs, unix.S_IFDIR, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Dir{f: os.NewFile(uintptr(fd), abs), path: abs}, nil
}

func isSymlinkAt(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// Fd is the directory's descriptor (for flock).
func (d *Dir) Fd() uintptr { return d.f.Fd() }

// Close releases the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Join is the path of name in the directory, for messages.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, name) }

// OpenFile opens an existing regular file in the directory (flag: O_RDONLY or O_RDWR, with
// O_APPEND if wanted) without following a symlink, and checks what it opened: a regular
// file with one link, owned by root or the running user, not writable by group or others.
// Files are never created here: WriteAtomic creates them.
func (d *Dir) OpenFile(name string, flag int) (*os.File, error) {
	path := d.Join(name)
	if flag&unix.O_CREAT != 0 {
		return nil, fmt.Errorf("open %s: files are created with WriteAtomic", path)
	}
	fd, err := unix.Openat(int(d.f.Fd()), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENXIO) { // a directory, a socket
		return nil, unsafe(path, "not a regular file")
	}
	if err != nil {
		return nil, openErr(path, err)
	}
	// O_NONBLOCK only kept a FIFO planted in place of the file from blocking the open.
	if err := fstatCheck(fd, path, unix.S_IFREG, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flag&unix.O_APPEND); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads a whole file opened as OpenFile does.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.OpenFile(name, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return b, nil
}

// Names lists the directory's entries.
func (d *Dir) Names() ([]string, error) {
	fd, err := unix.Openat(int(d.f.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// Rename renames old to new within the directory, never replacing an existing new, and
// makes the rename durable.
func (d *Dir) Rename(old, new string) error {
	fd := int(d.f.Fd())
	if err := unix.Renameat2(fd, old, fd, new, unix.RENAME_NOREPLACE); err != nil {
		return &os.LinkError{Op: "rename", Old: d.Join(old), New: d.Join(new), Err: err}
	}
	return d.Sync()
}

// Remove removes the file name from the directory (never following a symlink: one is removed
// itself) and makes the removal durable.
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(int(d.f.Fd()), name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: d.Join(name), Err: err}
	}
	return d.Sync()
}

// Sync makes the directory's entries durable (after a create or rename).
func (d *Dir) Sync() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", d.path, err)
	}
	return nil
}

// ReadFile reads a file root is configured by (not state it writes): the file, found where
// its symlinks lead, and every directory above it must pass the checks of a state file and
// its parents; its own directory may be sticky like /tmp, since nothing is created in it.
func ReadFile(path string) ([]byte, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	fd, err := walk(filepath.Dir(real))
	if err != nil {
		return nil, err
	}
	d := &Dir{f: os.NewFile(uintptr(fd), filepath.Dir(real)), path: filepath.Dir(real)}
	defer d.Close()
	return d.ReadFile(filepath.Base(real))
}
