package kstat

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadSoftirqs(t *testing.T) {
	for root, want := range map[string][]uint64{
		"testdata/vm-6.18/proc":     {9236, 11780},
		"testdata/debian-6.1/proc":  {0, 5},
		"testdata/debian-5.10/proc": {4, 1},
	} {
		got, err := ReadSoftirqs(root)
		if err != nil {
			t.Fatalf("%s: %v", root, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: NET_RX %v, want %v", root, got, want)
		}
	}
}

func TestReadSoftirqsNoNetRx(t *testing.T) {
	root := t.TempDir()
	content := "                    CPU0       CPU1\n          HI:          0          0\n"
	if err := os.WriteFile(filepath.Join(root, "softirqs"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSoftirqs(root); err == nil {
		t.Fatal("no error without a NET_RX row")
	}
}
