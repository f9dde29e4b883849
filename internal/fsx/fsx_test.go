package fsx

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nobody is a uid that is neither root nor the test's user.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
}

func mustWrite(t *testing.T, path, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // no umask
		t.Fatal(err)
	}
}

func wantUnsafe(t *testing.T, err error, why string) {
	t.Helper()
	var ue *UnsafeError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafe) || !strings.Contains(ue.Why, why) {
		t.Fatalf("err = %v, want an UnsafeError saying %q", err, why)
	}
}

func TestOpenDirRefuses(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "good")
	if err := os.Mkdir(good, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(good, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, openOnly(filepath.Join(base, "link")), "symbolic link")
	_, err := CreateDir(filepath.Join(base, "link"), 0o700)
	wantUnsafe(t, err, "symbolic link")

	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o777, 0o770, os.ModeSticky | 0o777} { // sticky helps only a parent
		if err := os.Chmod(open, mode); err != nil {
			t.Fatal(err)
		}
		wantUnsafe(t, openOnly(open), "writable by group or others")
	}
	// A parent anyone can write lets anyone swap the directory: refused too ...
	if err := os.Mkdir(filepath.Join(open, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, openOnly(filepath.Join(open, "state")), "writable by group or others")
	// ... unless it is sticky, like /tmp: then only an entry's owner can rename it.
	if err := os.Chmod(open, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if err := openOnly(filepath.Join(open, "state")); err != nil {
		t.Fatalf("state dir below a sticky directory: %v", err)
	}

	file := filepath.Join(base, "file")
	mustWrite(t, file, "", 0o600)
	wantUnsafe(t, openOnly(file), "not a directory")
	if _, err := OpenDir(filepath.Join(base, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := OpenDir("/"); err == nil {
		t.Fatal("the root directory accepted as a state dir")
	}
}

func TestOpenDirForeignOwner(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	own := filepath.Join(base, "foreign")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, openOnly(own), "owned by uid 65534")
	// Below a directory another user owns: they could replace what is under it.
	if err := os.Mkdir(filepath.Join(own, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, openOnly(filepath.Join(own, "state")), "owned by uid 65534")
	_, err := CreateDir(filepath.Join(own, "new"), 0o700)
	wantUnsafe(t, err, "owned by uid 65534")
}

func openOnly(path string) error {
	d, err := OpenDir(path)
	if err == nil {
		d.Close()
	}
	return err
}

func TestCreateDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "state")
	d, err := CreateDir(path, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || d.Path() != path {
		t.Fatalf("created %v %v at %s", fi.Mode(), err, d.Path())
	}
	again, err := CreateDir(path, 0o700)
	if err != nil {
		t.Fatalf("existing dir: %v", err)
	}
	again.Close()
}

func TestOpenFileRefuses(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	outside := filepath.Join(t.TempDir(), "outside")
	mustWrite(t, outside, "not yours", 0o600)

	mustWrite(t, filepath.Join(dir, "ok"), "fine", 0o600)
	if b, err := d.ReadFile("ok"); err != nil || string(b) != "fine" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	mustWrite(t, filepath.Join(dir, "readable"), "fine", 0o644)
	if _, err := d.ReadFile("readable"); err != nil {
		t.Fatalf("a file others may read but not write: %v", err)
	}

	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile("link", os.O_RDWR)
	wantUnsafe(t, err, "symbolic link")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenFile("dangling", os.O_RDWR)
	wantUnsafe(t, err, "symbolic link")

	mustWrite(t, filepath.Join(dir, "shared"), "x", 0o666)
	_, err = d.ReadFile("shared")
	wantUnsafe(t, err, "writable by group or others")

	if err := os.Link(outside, filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadFile("hard")
	wantUnsafe(t, err, "hard links")

	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadFile("fifo") // must not block waiting for a writer
	wantUnsafe(t, err, "not a regular file")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadFile("sub")
	wantUnsafe(t, err, "not a regular file")
	_, err = d.OpenFile("sub", os.O_RDWR)
	wantUnsafe(t, err, "not a regular file")

	if _, err := d.ReadFile("missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := d.OpenFile("new", os.O_RDWR|os.O_CREATE); err == nil {
		t.Fatal("OpenFile created a file")
	}
	if b, _ := os.ReadFile(outside); string(b) != "not yours" {
		t.Fatalf("the file a symlink pointed to changed: %q", b)
	}
}

func TestOpenFileForeignOwner(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p := filepath.Join(dir, "journal")
	mustWrite(t, p, "forged", 0o600)
	if err := os.Chown(p, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, err = d.ReadFile("journal")
	wantUnsafe(t, err, "owned by uid 65534")
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, durable := range []bool{false, true} {
		if err := d.WriteAtomic("state", 0o600, durable, writeString("one")); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("boom")
	err = d.WriteAtomic("state", 0o600, true, func(w io.Writer) error {
		_, _ = io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, err := d.ReadFile("state"); err != nil || string(b) != "one" {
		t.Fatalf("after a failed write: %q %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "state"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}

	// A symlink in the file's place is replaced, never written through.
	outside := filepath.Join(t.TempDir(), "outside")
	mustWrite(t, outside, "keep", 0o600)
	if err := os.Symlink(outside, filepath.Join(dir, "target")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAtomic("target", 0o600, true, writeString("mine")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatalf("wrote through a symlink: %q", b)
	}
	if b, err := d.ReadFile("target"); err != nil || string(b) != "mine" {
		t.Fatalf("target = %q %v", b, err)
	}

	// A killed writer's temporary file is removed under the caller's lock.
	mustWrite(t, filepath.Join(dir, tempPrefix("state")+"dead"), "torn", 0o600)
	if err := d.RemoveTemps("state"); err != nil {
		t.Fatal(err)
	}
	names, _ := d.Names()
	if strings.Join(names, ",") != "state,target" && strings.Join(names, ",") != "target,state" {
		t.Fatalf("entries left: %v", names)
	}
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mustWrite(t, filepath.Join(dir, "a"), "a", 0o600)
	mustWrite(t, filepath.Join(dir, "b"), "b", 0o600)
	if err := d.Rename("a", "b"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("rename over an existing file: %v", err)
	}
	if err := d.Rename("a", "c"); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("c"); err != nil || string(b) != "a" {
		t.Fatalf("c = %q %v", b, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nettune.prom")
	if err := WriteFileAtomic(path, 0o644, writeString("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, 0o644, writeString("two\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(got) != "two\n" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("%q %v %v", got, err, fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x.prom"), 0o644, writeString("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nettune.yaml")
	mustWrite(t, p, "interval: 5s\n", 0o644)
	if err := os.Symlink(p, filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, filepath.Join(dir, "link.yaml")} {
		if b, err := ReadFile(path); err != nil || string(b) != "interval: 5s\n" {
			t.Fatalf("%s: %q %v", path, b, err)
		}
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(filepath.Join(dir, "link.yaml"))
	wantUnsafe(t, err, "writable by group or others")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(p)
	wantUnsafe(t, err, "writable by group or others")
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err != nil {
		t.Fatalf("in a sticky directory: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
