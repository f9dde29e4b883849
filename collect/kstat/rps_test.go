package kstat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/model"
)

// netDir opens <sysRoot>/class/net for the length of the test.
func netDir(t testing.TB, sysRoot string) *NetDir {
	d, err := OpenNetDir(sysRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestReadRPS(t *testing.T) {
	mlx := netDir(t, "testdata/mlx5-host/sys")
	got, err := mlx.RPS("ens1f0np0", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("%d queues, want 12", len(got))
	}
	for i, q := range got {
		want := model.RxQueue{Queue: i, RPSCPUs: "0"}
		if i < 4 {
			want = model.RxQueue{Queue: i, RPSCPUs: "e", RPSFlowCnt: 2048}
		}
		if q != want {
			t.Errorf("queue %d: %+v, want %+v", i, q, want)
		}
	}

	// With the queue count known (from netlink) no directory is listed: same result.
	known, err := mlx.RPS("ens1f0np0", 12, true)
	if err != nil || !cmp.Equal(known, got) {
		t.Errorf("with queue count: %v %+v", err, known)
	}

	// More allocated queues than real ones (veth): the list ends at the first missing rx-N.
	fewer, err := mlx.RPS("ens1f0np0", 64, true)
	if err != nil || !cmp.Equal(fewer, got) {
		t.Errorf("allocated > real queues: %v %+v", err, fewer)
	}

	// Without RFS the flow counts are not read.
	noflows, err := mlx.RPS("ens1f0np0", 12, false)
	if err != nil || len(noflows) != 12 || noflows[0].RPSFlowCnt != 0 || noflows[0].RPSCPUs != "e" {
		t.Errorf("without flows: %v %+v", err, noflows)
	}

	got, err = netDir(t, "testdata/vm-6.18/sys").RPS("eth0", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]model.RxQueue{{Queue: 0, RPSCPUs: "0"}}, got); d != "" {
		t.Errorf("vm-6.18 eth0 (-want +got):\n%s", d)
	}
}

func TestReadRPSNoQueues(t *testing.T) {
	got, err := netDir(t, "testdata/mlx5-host/sys").RPS("ens1f1np1", 0, true)
	if got != nil || err != nil {
		t.Fatalf("got %v, %v; want nil, nil", got, err)
	}
}

func TestReadRPSBadValue(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/mlx5-host/sys/class/net/lo/queues/rx-0/rps_cpus", root+"/class/net/lo/queues/rx-0/rps_cpus")
	if err := os.WriteFile(root+"/class/net/lo/queues/rx-0/rps_flow_cnt", []byte("many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := netDir(t, root).RPS("lo", 0, true); err == nil {
		t.Fatal("no error for a non-numeric rps_flow_cnt")
	}
}

// Virtual devices are read from devices/virtual/net, which class/net links to; physical ones,
// which that directory does not list, from class/net.
func TestReadRPSVirtualAndPhysical(t *testing.T) {
	root := t.TempDir()
	for path, v := range map[string]string{
		"devices/virtual/net/veth0/queues/rx-0/rps_cpus":                "2",
		"devices/pci0000:00/0000:00:03.0/net/eth0/queues/rx-0/rps_cpus": "1",
		"devices/pci0000:00/0000:00:03.0/net/eth0/queues/rx-1/rps_cpus": "3",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "class/net"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"veth0": "../../devices/virtual/net/veth0",
		"eth0": "../../devices/pci0000:00/0000:00:03.0/net/eth0"} {
		if err := os.Symlink(target, filepath.Join(root, "class/net", link)); err != nil {
			t.Fatal(err)
		}
	}
	d := netDir(t, root)
	for link, want := range map[string][]model.RxQueue{
		"veth0": {{Queue: 0, RPSCPUs: "2"}},
		"eth0":  {{Queue: 0, RPSCPUs: "1"}, {Queue: 1, RPSCPUs: "3"}},
	} {
		for _, queues := range []int{0, 4} {
			got, err := d.RPS(link, queues, false)
			if err != nil || !cmp.Equal(got, want) {
				t.Errorf("%s (queues %d): %+v %v, want %+v", link, queues, got, err, want)
			}
		}
	}
}

func TestOpenNetDirMissing(t *testing.T) {
	if _, err := OpenNetDir(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sysfs without class/net: %v", err)
	}
}

func TestReadValue(t *testing.T) {
	v, err := readValue("testdata/mlx5-host/sys/class/net/ens1f0np0/queues/rx-0/rps_cpus")
	if err != nil || v != "e" {
		t.Fatalf("%q %v", v, err)
	}
	if _, err := readValue("testdata/nonexistent"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
