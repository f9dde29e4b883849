package kstat

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nettune/nettune/model"
)

// brief renders an IRQ as "irq link queue dir name" ("-" for no direction).
func brief(irqs []model.IRQ) []string {
	var out []string
	for _, q := range irqs {
		dir := string(q.Dir)
		if dir == "" {
			dir = "-"
		}
		out = append(out, fmt.Sprintf("%d %s %d %s %s", q.IRQ, q.Link, q.Queue, dir, q.Name))
	}
	return out
}

func parseFixture(t *testing.T, path string) []Interrupt {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := ParseInterrupts(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines
}

func TestParseInterruptsReal(t *testing.T) {
	lines := parseFixture(t, "testdata/vm-6.18/proc/interrupts")
	if len(lines) != 19 {
		t.Fatalf("%d numbered lines, want 19", len(lines))
	}
	want := Interrupt{IRQ: 38, PerCPU: []uint64{0, 11837}, Actions: []string{"virtio2-input.0"}}
	i := slices.IndexFunc(lines, func(in Interrupt) bool { return in.IRQ == 38 })
	if i < 0 {
		t.Fatal("irq 38 missing")
	}
	if d := cmp.Diff(want, lines[i]); d != "" {
		t.Errorf("irq 38 (-want +got):\n%s", d)
	}
	for _, path := range []string{"testdata/debian-5.10/proc/interrupts", "testdata/debian-6.1/proc/interrupts"} {
		for _, in := range parseFixture(t, path) {
			if len(in.PerCPU) != 2 || len(in.Actions) == 0 {
				t.Errorf("%s: irq %d: %d counts, actions %v", path, in.IRQ, len(in.PerCPU), in.Actions)
			}
		}
	}
}

func TestParseInterruptsSharedAndErrors(t *testing.T) {
	in := "           CPU0       CPU1\n" +
		"  16:        120          3   IO-APIC   16-fasteoi   ehci_hcd:usb1, eth2\n" +
		" NMI:          0          0   Non-maskable interrupts\n" +
		" ERR:          0\n"
	lines, err := ParseInterrupts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Interrupt{{IRQ: 16, PerCPU: []uint64{120, 3}, Actions: []string{"ehci_hcd:usb1", "eth2"}}}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	got := brief(MapInterrupts(lines, []LinkDevice{{Link: "eth2"}}))
	if !slices.Equal(got, []string{"16 eth2 -1 - eth2"}) {
		t.Errorf("shared line mapped to %v", got)
	}
	for _, bad := range []string{"", "  CPU0 CPU1\n 5: 1\n", "  CPU0\n 5: x IO-APIC 5-edge eth0\n"} {
		if _, err := ParseInterrupts(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMapInterruptsDrivers(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		links   []LinkDevice
		want    []string
	}{
		{"ixgbe", []LinkDevice{{"eth0", "0000:02:00.0"}}, []string{
			"60 eth0 0 - eth0-TxRx-0", "61 eth0 1 - eth0-TxRx-1", "62 eth0 2 - eth0-TxRx-2",
			"63 eth0 3 - eth0-TxRx-3", "64 eth0 -1 - eth0",
		}},
		{"i40e", []LinkDevice{{"ens1f0", "0000:3b:00.0"}}, []string{
			"91 ens1f0 0 - i40e-ens1f0-TxRx-0", "92 ens1f0 1 - i40e-ens1f0-TxRx-1",
			"93 ens1f0 2 - i40e-ens1f0-TxRx-2", "94 ens1f0 3 - i40e-ens1f0-TxRx-3",
		}},
		{"ice", []LinkDevice{{"ens2f0", "0000:17:00.0"}}, []string{
			"141 ens2f0 0 - ice-ens2f0-TxRx-0", "142 ens2f0 1 - ice-ens2f0-TxRx-1",
			"143 ens2f0 2 - ice-ens2f0-TxRx-2", "144 ens2f0 3 - ice-ens2f0-TxRx-3",
		}},
		{"mlx5", []LinkDevice{{"ens1f1np1", "0000:3b:00.1"}}, []string{
			"166 ens1f1np1 0 - mlx5_comp0@pci:0000:3b:00.1", "167 ens1f1np1 1 - mlx5_comp1@pci:0000:3b:00.1",
			"168 ens1f1np1 2 - mlx5_comp2@pci:0000:3b:00.1", "169 ens1f1np1 3 - mlx5_comp3@pci:0000:3b:00.1",
		}},
		{"virtio", []LinkDevice{{"eth0", "virtio1"}, {"eth1", "virtio11"}}, []string{
			"25 eth0 0 rx virtio1-input.0", "26 eth0 0 tx virtio1-output.0",
			"27 eth0 1 rx virtio1-input.1", "28 eth0 1 tx virtio1-output.1",
			"29 eth0 2 rx virtio1-input.2", "30 eth0 2 tx virtio1-output.2",
			"31 eth0 3 rx virtio1-input.3", "32 eth0 3 tx virtio1-output.3",
			"36 eth1 0 rx virtio11-input.0",
		}},
		{"virtio-shared", []LinkDevice{{"eth0", "virtio0"}}, []string{"25 eth0 -1 - virtio0-virtqueues"}},
		{"igb", []LinkDevice{{"eno1", "0000:04:00.0"}}, []string{
			"120 eno1 -1 - eno1", "121 eno1 0 rx eno1-rx-0", "122 eno1 1 rx eno1-rx-1",
			"123 eno1 0 tx eno1-tx-0", "124 eno1 1 tx eno1-tx-1",
		}},
		{"ena", []LinkDevice{{"ens5", "0000:00:05.0"}}, []string{
			"28 ens5 0 - ens5-Tx-Rx-0", "29 ens5 1 - ens5-Tx-Rx-1",
		}},
		{"bnxt", []LinkDevice{{"ens6f0np0", "0000:41:00.0"}}, []string{
			"150 ens6f0np0 0 rx ens6f0np0-rx-0", "151 ens6f0np0 1 rx ens6f0np0-rx-1",
			"152 ens6f0np0 0 tx ens6f0np0-tx-2", "153 ens6f0np0 1 tx ens6f0np0-tx-3",
		}},
		// A virtual link and a link of another driver match nothing.
		{"mlx5", []LinkDevice{{"veth0", ""}, {"eth0", "virtio2"}}, nil},
	} {
		got := brief(MapInterrupts(parseFixture(t, "testdata/interrupts/"+tc.fixture), tc.links))
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s %v (-want +got):\n%s", tc.fixture, tc.links, d)
		}
	}
}

func TestReadInterrupts(t *testing.T) {
	got, err := ReadInterrupts("testdata/mlx5-host/proc", "testdata/mlx5-host/sys", []string{"ens1f0np0", "lo"})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.IRQ{
		{IRQ: 161, Link: "ens1f0np0", Queue: 0, Name: "mlx5_comp0@pci:0000:3b:00.0", PerCPU: []uint64{77100321, 1, 2, 0}, Affinity: "0"},
		{IRQ: 162, Link: "ens1f0np0", Queue: 1, Name: "mlx5_comp1@pci:0000:3b:00.0", PerCPU: []uint64{1, 77101632, 0, 1}, Affinity: "1"},
		{IRQ: 163, Link: "ens1f0np0", Queue: 2, Name: "mlx5_comp2@pci:0000:3b:00.0", PerCPU: []uint64{2, 0, 77102943, 2}, Affinity: "2"},
		{IRQ: 164, Link: "ens1f0np0", Queue: 3, Name: "mlx5_comp3@pci:0000:3b:00.0", PerCPU: []uint64{0, 1, 2, 77104254}, Affinity: "3"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	// The real VM tree: eth0 resolves to virtio2 through its device symlink; the lines of
	// the other virtio devices (virtio3-rx, virtio4-input, ...) stay out.
	got, err = ReadInterrupts("testdata/vm-6.18/proc", "testdata/vm-6.18/sys", []string{"eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"38 eth0 0 rx virtio2-input.0", "39 eth0 0 tx virtio2-output.0"}, brief(got)); d != "" {
		t.Errorf("vm-6.18 (-want +got):\n%s", d)
	}
	for _, q := range got {
		if q.Affinity != "0-1" {
			t.Errorf("irq %d affinity %q, want 0-1", q.IRQ, q.Affinity)
		}
	}
}

func TestReadInterruptsMissingAffinity(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/interrupts/ena", root+"/proc/interrupts")
	got, err := ReadInterrupts(root+"/proc", root+"/sys", []string{"ens5"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Affinity != "" || got[1].Affinity != "" {
		t.Fatalf("got %+v", got)
	}
}
