package kstat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadSysctlsFixture(t *testing.T) {
	got, err := ReadSysctls("testdata/vm-6.18/proc", DefaultSysctls)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"net.core.netdev_max_backlog": "1000",
		"net.core.somaxconn":          "4096",
		"net.core.rmem_max":           "4194304",
		"net.core.default_qdisc":      "pfifo_fast",
		"net.ipv4.tcp_rmem":           "4096 131072 33554432",
		"net.ipv4.udp_mem":            "575796 767731 1151592",
		"net.ipv4.conf.all.rp_filter": "0",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestReadSysctlsUnreadable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys", "net", "core")
	// A directory where a value should be: reading it fails with EISDIR, even as root.
	if err := os.MkdirAll(filepath.Join(dir, "rmem_max"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "somaxconn"), []byte("4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSysctls(root, []string{"net.core.somaxconn", "net.core.rmem_max", "net.core.netdev_budget"})
	if err == nil {
		t.Fatal("no error for an unreadable key")
	}
	if d := cmp.Diff(map[string]string{"net.core.somaxconn": "4096"}, got); d != "" {
		t.Errorf("readable keys (-want +got):\n%s", d)
	}
}

func TestReadSysctlsNoRoot(t *testing.T) {
	if _, err := ReadSysctls(t.TempDir(), DefaultSysctls); err == nil {
		t.Fatal("no error without a sys directory")
	}
}
