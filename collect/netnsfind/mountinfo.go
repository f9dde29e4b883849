package netnsfind

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one bind mount of a network namespace's nsfs file.
type Mount struct {
	Path string // mount point, unescaped
	Dev  uint64 // the nsfs device (major:minor of the mount)
	Ino  uint64 // the namespace's inode, from the mount's root "net:[INODE]"
}

// ParseMountinfo returns the net namespace bind mounts of a /proc/PID/mountinfo table, in
// table order. Mounts of other namespace types (mnt:, uts:, ...) and other filesystems are
// skipped; a malformed nsfs line is an error.
//
// Line format (proc(5)): ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE
// SOURCE SUPEROPTIONS, with space, tab, newline and backslash in paths written as \ooo.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if !bytes.Contains(b, []byte(" nsfs ")) {
			continue // the cheap test: most of a busy table is overlay, tmpfs and cgroup lines
		}
		m, ok, err := parseNsfsLine(string(b))
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", line, err)
		}
		if ok {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return out, nil
}

// parseNsfsLine decodes a line that may be an nsfs mount; ok is false for any other line.
func parseNsfsLine(line string) (Mount, bool, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 {
		return Mount{}, false, fmt.Errorf("no \" - \" separator")
	}
	if sep+1 >= len(f) {
		return Mount{}, false, fmt.Errorf("no filesystem type")
	}
	if f[sep+1] != "nsfs" {
		return Mount{}, false, nil
	}
	root, ok := strings.CutPrefix(f[3], "net:[")
	if !ok {
		return Mount{}, false, nil // a mnt:, uts:, ... namespace
	}
	ino, err := parseInode(root)
	if err != nil {
		return Mount{}, false, fmt.Errorf("root %q: %w", f[3], err)
	}
	majS, minS, ok := strings.Cut(f[2], ":")
	if !ok {
		return Mount{}, false, fmt.Errorf("device %q", f[2])
	}
	maj, err1 := strconv.ParseUint(majS, 10, 32)
	mnr, err2 := strconv.ParseUint(minS, 10, 32)
	if err1 != nil || err2 != nil {
		return Mount{}, false, fmt.Errorf("device %q", f[2])
	}
	path, err := unescape(f[4])
	if err != nil {
		return Mount{}, false, fmt.Errorf("mount point %q: %w", f[4], err)
	}
	return Mount{Path: path, Dev: unix.Mkdev(uint32(maj), uint32(mnr)), Ino: ino}, true, nil
}

// parseInode reads "4026531840]" (the rest of "net:[4026531840]").
func parseInode(s string) (uint64, error) {
	digits, ok := strings.CutSuffix(s, "]")
	if !ok {
		return 0, fmt.Errorf("no closing bracket")
	}
	ino, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || ino == 0 {
		return 0, fmt.Errorf("inode %q", digits)
	}
	return ino, nil
}

// unescape turns the kernel's \ooo octal escapes back into bytes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("short escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("escape %q", s[i:i+4])
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}
