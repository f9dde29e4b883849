// Package vm boots Linux kernels under qemu with a throw-away initramfs to run statically
// linked Go test binaries, and reads back what they reported.
package vm

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// CPIO writes an initramfs archive in the "newc" format the kernel unpacks. Parent directories
// are not created implicitly: add them with Dir first.
type CPIO struct {
	w     io.Writer
	ino   uint32
	seen  map[string]bool
	err   error
	wrote int64
}

// NewCPIO returns a writer that appends entries to w. Several archives may be concatenated
// into one initrd: the kernel unpacks them in order.
func NewCPIO(w io.Writer) *CPIO {
	return &CPIO{w: w, ino: 1, seen: map[string]bool{}}
}

// Dir adds a directory (mode 0755) and, first, any of its parents not yet added.
func (c *CPIO) Dir(name string) error {
	name = clean(name)
	if name == "" || c.seen[name] {
		return c.err
	}
	if parent := path.Dir(name); parent != "." {
		if err := c.Dir(parent); err != nil {
			return err
		}
	}
	c.seen[name] = true
	return c.entry(name, 0o040755, 0, nil)
}

// File adds a regular file with permission bits perm, read from r (size bytes).
func (c *CPIO) File(name string, perm fs.FileMode, size int64, r io.Reader) error {
	name = clean(name)
	c.seen[name] = true
	return c.entry(name, 0o100000|uint32(perm.Perm()), size, r)
}

// Bytes adds a regular file holding data.
func (c *CPIO) Bytes(name string, perm fs.FileMode, data []byte) error {
	return c.File(name, perm, int64(len(data)), bytes.NewReader(data))
}

// CopyFile adds the host file src as name, keeping its permission bits.
func (c *CPIO) CopyFile(name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return c.File(name, st.Mode(), st.Size(), f)
}

// Symlink adds a symbolic link name → target.
func (c *CPIO) Symlink(name, target string) error {
	name = clean(name)
	c.seen[name] = true
	return c.entry(name, 0o120777, int64(len(target)), strings.NewReader(target))
}

// Close writes the trailer. It does not close the underlying writer.
func (c *CPIO) Close() error {
	return c.entry("TRAILER!!!", 0, 0, nil)
}

func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (c *CPIO) entry(name string, mode uint32, size int64, r io.Reader) error {
	if c.err != nil {
		return c.err
	}
	if size > 0xffffffff {
		c.err = fmt.Errorf("cpio %s: %d bytes is too large for newc", name, size)
		return c.err
	}
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	// Fields: magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize (with NUL), check.
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr + name + "\x00"))
	c.pad()
	if r != nil && c.err == nil {
		n, err := io.CopyN(c.w, r, size)
		c.wrote += n
		if err != nil {
			c.err = fmt.Errorf("cpio %s: %w", name, err)
		}
	}
	c.pad()
	return c.err
}

func (c *CPIO) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.wrote += int64(n)
	if err != nil {
		c.err = fmt.Errorf("cpio: %w", err)
	}
}

// pad aligns the stream to 4 bytes, as newc requires after headers and file data.
func (c *CPIO) pad() {
	if rem := c.wrote % 4; rem != 0 {
		c.write(make([]byte, 4-rem))
	}
}
