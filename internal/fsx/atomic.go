package fsx

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// WriteAtomic replaces name in the directory with what write produces, so readers see the old
// file or the new one and never part of either. The temporary file is created beside it with
// O_EXCL and without following links, gets exactly mode perm (no umask), and is renamed over
// name; durable also fsyncs the file before the rename and the directory after it.
func (d *Dir) WriteAtomic(name string, perm os.FileMode, durable bool, write func(io.Writer) error) (err error) {
	dirfd := int(d.f.Fd())
	tmp, f, err := d.createTemp(name, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	wrap := func(err error) error { return fmt.Errorf("write %s: %w", d.Join(name), err) }
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return wrap(err)
	}
	if err := bw.Flush(); err != nil {
		return wrap(err)
	}
	if err := f.Chmod(perm); err != nil {
		return wrap(err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return wrap(err)
		}
	}
	if err := f.Close(); err != nil {
		return wrap(err)
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		return wrap(err)
	}
	if durable {
		return d.Sync()
	}
	return nil
}

// tempPrefix names the temporary files of name: hidden, and recognisable after a crash.
func tempPrefix(name string) string { return "." + name + ".tmp-" }

func (d *Dir) createTemp(name string, perm os.FileMode) (string, *os.File, error) {
	for range 10 {
		var r [6]byte
		_, _ = rand.Read(r[:])
		tmp := tempPrefix(name) + hex.EncodeToString(r[:])
		fd, err := unix.Openat(int(d.f.Fd()), tmp,
			unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", nil, &os.PathError{Op: "create", Path: d.Join(tmp), Err: err}
		}
		return tmp, os.NewFile(uintptr(fd), d.Join(tmp)), nil
	}
	return "", nil, fmt.Errorf("create a temporary file for %s: too many collisions", d.Join(name))
}

// RemoveTemps removes the temporary files a killed WriteAtomic of name left behind. Only
// call it while no other process can be writing name (under a lock).
func (d *Dir) RemoveTemps(name string) error {
	names, err := d.Names()
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix(name)) {
			if err := unix.Unlinkat(int(d.f.Fd()), n, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return &os.PathError{Op: "remove", Path: d.Join(n), Err: err}
			}
		}
	}
	return nil
}

// WriteFileAtomic is a durable WriteAtomic of a file wherever the caller chose to put it
// (node_exporter's textfile directory): the directory is used as given, without OpenDir's
// ownership checks, since another user may own it; the file itself is still created safely.
func WriteFileAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write %s: not a file name", path)
	}
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d := &Dir{f: f, path: filepath.Clean(dir)}
	defer d.Close()
	return d.WriteAtomic(base, perm, true, write)
}
