package kstat

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/model"
)

func TestReadSoftnetLayouts(t *testing.T) {
	for _, tc := range []struct {
		root string
		want []model.SoftnetCPU
	}{
		{"testdata/vm-6.18/proc", []model.SoftnetCPU{ // 15 columns, via thread-self
			{CPU: 0, Processed: 0x16},
			{CPU: 1, Processed: 0x5f98},
		}},
		{"testdata/debian-6.1/proc", []model.SoftnetCPU{ // 13 columns
			{CPU: 0},
			{CPU: 1, Processed: 0xa},
		}},
		{"testdata/debian-5.10/proc", []model.SoftnetCPU{ // 13 columns
			{CPU: 0, Processed: 8, TimeSqueeze: 1},
			{CPU: 1, Processed: 2},
		}},
		{"testdata/softnet-11col/proc", []model.SoftnetCPU{ // no CPU column: row index
			{CPU: 0, Processed: 8, TimeSqueeze: 1},
			{CPU: 1, Processed: 2},
		}},
	} {
		got, err := ReadSoftnet(tc.root)
		if err != nil {
			t.Fatalf("%s: %v", tc.root, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.root, d)
		}
	}
}

func TestReadSoftnetMissing(t *testing.T) {
	if _, err := ReadSoftnet(t.TempDir()); err == nil {
		t.Fatal("no error for a proc root without softnet_stat")
	}
}
