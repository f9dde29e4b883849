package kstat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Kept files read what ReadSysctls reads, and read again they see the current value.
func TestSysctlFilesFixture(t *testing.T) {
	want, err := ReadSysctls("testdata/vm-6.18/proc", DefaultSysctls)
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenSysctls("testdata/vm-6.18/proc", DefaultSysctls)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 {
		got, err := f.Read()
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("(-ReadSysctls +SysctlFiles):\n%s", d)
		}
	}
}

func TestSysctlFilesReread(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "net", "core")
	if err := os.MkdirAll(filepath.Join(dir, "rmem_max"), 0o755); err != nil { // unreadable: EISDIR
		t.Fatal(err)
	}
	path := filepath.Join(dir, "somaxconn")
	if err := os.WriteFile(path, []byte("4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSysctls(root, []string{"net.core.somaxconn", "net.core.rmem_max", "net.core.netdev_budget"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Read()
	if err == nil {
		t.Error("no error for an unreadable key")
	}
	if d := cmp.Diff(map[string]string{"net.core.somaxconn": "4096"}, got); d != "" {
		t.Errorf("first read (-want +got):\n%s", d)
	}
	// The same inode written again: what a sysctl write looks like to a kept file.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("8192\t\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, _ = f.Read()
	if got["net.core.somaxconn"] != "8192" {
		t.Errorf("second read %q, want the new value 8192", got)
	}
}

func TestSysctlFilesSymlink(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "net", "core")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "somaxconn")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSysctls(root, []string{"net.core.somaxconn"}); err == nil {
		t.Error("a symlink in place of a sysctl was opened")
	}
}
