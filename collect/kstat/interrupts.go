package kstat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nettune/nettune/model"
)

// Interrupt is one numbered line of /proc/interrupts.
type Interrupt struct {
	IRQ    int
	PerCPU []uint64 // one count per online CPU, in header order
	// Actions are the handler names at the end of the line ("eth0-TxRx-3",
	// "mlx5_comp2@pci:0000:3b:00.0"); a shared line has several.
	Actions []string
}

// ParseInterrupts parses /proc/interrupts, keeping numbered lines and ignoring the per-CPU
// architecture rows (NMI, LOC, ERR, ...). It is a hand parser because procfs's Interrupts
// needs a per-process Proc, returns a map (losing line order), keeps counts as strings and
// does not separate the handler names from the chip and hwirq columns.
func ParseInterrupts(r io.Reader) ([]Interrupt, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("interrupts: empty")
	}
	ncpu := len(strings.Fields(sc.Text())) // header: CPU0 CPU1 ...
	var out []Interrupt
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		irq, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
		if err != nil {
			continue // NMI, LOC, ...: not a device IRQ
		}
		if len(f) < 1+ncpu {
			return nil, fmt.Errorf("interrupts: irq %d: %d fields for %d cpus", irq, len(f), ncpu)
		}
		in := Interrupt{IRQ: irq, PerCPU: make([]uint64, ncpu)}
		for i := range ncpu {
			if in.PerCPU[i], err = strconv.ParseUint(f[1+i], 10, 64); err != nil {
				return nil, fmt.Errorf("interrupts: irq %d cpu %d: %w", irq, i, err)
			}
		}
		in.Actions = actions(f[1+ncpu:])
		out = append(out, in)
	}
	return out, sc.Err()
}

// actions returns the handler names that end a line: the last field plus any fields before
// it that end in "," (the kernel joins shared handlers with ", "). The last name has no
// separator after it, so it is kept whole.
func actions(desc []string) []string {
	if len(desc) == 0 {
		return nil
	}
	last := len(desc) - 1
	first := last
	for first > 0 && strings.HasSuffix(desc[first-1], ",") {
		first--
	}
	names := make([]string, 0, len(desc)-first)
	for _, d := range desc[first:last] {
		names = append(names, strings.TrimSuffix(d, ","))
	}
	return append(names, desc[last])
}

// LinkDevice names a link and its device: the basename of the /sys/class/net/<link>/device
// symlink target, a PCI address ("0000:3b:00.0") or a virtio device ("virtio2"); "" for
// virtual links.
type LinkDevice struct {
	Link   string
	Device string
}

// MapInterrupts keeps the lines that belong to one of the links and maps each to a queue
// (-1 for a device-wide line) and direction ("" when one vector serves both). Affinity is
// left empty. Naming schemes, from the drivers' request_irq names:
//
//	ixgbe, igb, bnxt_en     <if>-TxRx-<n>, <if>-rx-<n>, <if>-tx-<n>; <if> alone = link/misc vector
//	i40e, ice, iavf         <driver>-<if>-TxRx-<n> (and -rx-/-tx-)
//	ena                     <if>-Tx-Rx-<n>
//	mlx5_core               mlx5_comp<n>@pci:<pci address>
//	virtio_net              virtio<N>-input.<q>, virtio<N>-output.<q>, virtio<N>-virtqueues (shared)
//
// Names are fixed when the driver requests the IRQ (usually at open), so a link renamed
// after that keeps lines under its old name and is not matched.
func MapInterrupts(lines []Interrupt, links []LinkDevice) []model.IRQ {
	var out []model.IRQ
	for _, in := range lines {
	actions:
		for _, name := range in.Actions {
			for _, l := range links {
				if q, dir, ok := matchQueue(name, l); ok {
					out = append(out, model.IRQ{IRQ: in.IRQ, Link: l.Link, Queue: q, Dir: dir,
						Name: name, PerCPU: in.PerCPU})
					break actions
				}
			}
		}
	}
	renumberAfterRx(out)
	return out
}

// driverPrefixes are the drivers that put their own name before the interface name.
var driverPrefixes = []string{"", "i40e-", "ice-", "iavf-"}

func matchQueue(name string, l LinkDevice) (queue int, dir model.Dir, ok bool) {
	if name == l.Link {
		return -1, "", true
	}
	for _, p := range driverPrefixes {
		rest, found := strings.CutPrefix(name, p+l.Link+"-")
		if !found {
			continue
		}
		for _, s := range []struct {
			infix string
			dir   model.Dir
		}{{"TxRx-", ""}, {"Tx-Rx-", ""}, {"rx-", model.Rx}, {"tx-", model.Tx}} {
			if n, found := strings.CutPrefix(rest, s.infix); found {
				if q, err := strconv.Atoi(n); err == nil && q >= 0 {
					return q, s.dir, true
				}
			}
		}
	}
	if l.Device == "" {
		return 0, "", false
	}
	if comp, found := strings.CutSuffix(name, "@pci:"+l.Device); found {
		if n, found := strings.CutPrefix(comp, "mlx5_comp"); found {
			if q, err := strconv.Atoi(n); err == nil && q >= 0 {
				return q, "", true
			}
		}
		return 0, "", false
	}
	if !strings.HasPrefix(l.Device, "virtio") {
		return 0, "", false
	}
	rest, found := strings.CutPrefix(name, l.Device+"-")
	if !found {
		return 0, "", false
	}
	if rest == "virtqueues" {
		return -1, "", true
	}
	for _, s := range []struct {
		prefix string
		dir    model.Dir
	}{{"input.", model.Rx}, {"output.", model.Tx}} {
		if n, found := strings.CutPrefix(rest, s.prefix); found {
			if q, err := strconv.Atoi(n); err == nil && q >= 0 {
				return q, s.dir, true
			}
		}
	}
	return 0, "", false
}

// renumberAfterRx turns ring numbers into TX queue numbers for drivers that number their
// TX-only vectors after the RX ones (bnxt_en with separate channels: rx-0..rx-3, tx-4..tx-7),
// detected per link as "the lowest tx number equals the count of rx lines". igb and ixgbe
// start both at 0 and are left alone.
func renumberAfterRx(irqs []model.IRQ) {
	type span struct{ rx, minTx int }
	spans := map[string]*span{}
	for _, q := range irqs {
		s := spans[q.Link]
		if s == nil {
			s = &span{minTx: -1}
			spans[q.Link] = s
		}
		switch {
		case q.Dir == model.Rx:
			s.rx++
		case q.Dir == model.Tx && (s.minTx < 0 || q.Queue < s.minTx):
			s.minTx = q.Queue
		}
	}
	for i, q := range irqs {
		if s := spans[q.Link]; q.Dir == model.Tx && s.rx > 0 && s.minTx == s.rx {
			irqs[i].Queue -= s.rx
		}
	}
}

// ReadInterrupts reads <proc>/interrupts (host-wide), keeps the lines of the named links
// (devices resolved under <sys>/class/net) and fills each line's Affinity from
// <proc>/irq/<n>/smp_affinity_list ("" when that file is missing).
func ReadInterrupts(procRoot, sysRoot string, links []string) ([]model.IRQ, error) {
	devs := make([]LinkDevice, len(links))
	for i, l := range links {
		d, err := linkDevice(sysRoot, l)
		if err != nil {
			return nil, err
		}
		devs[i] = LinkDevice{Link: l, Device: d}
	}
	f, err := os.Open(filepath.Join(procRoot, "interrupts"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lines, err := ParseInterrupts(f)
	if err != nil {
		return nil, err
	}
	irqs := MapInterrupts(lines, devs)
	for i := range irqs {
		b, err := os.ReadFile(filepath.Join(procRoot, "irq", strconv.Itoa(irqs[i].IRQ), "smp_affinity_list"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("irq %d affinity: %w", irqs[i].IRQ, err)
		}
		irqs[i].Affinity = strings.TrimSpace(string(b))
	}
	return irqs, nil
}

// linkDevice returns the basename of <sys>/class/net/<link>/device's target, "" when the
// link has no device (virtual links) or is not visible in this sysfs.
func linkDevice(sysRoot, link string) (string, error) {
	t, err := os.Readlink(filepath.Join(sysRoot, "class", "net", link, "device"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("link %s device: %w", link, err)
	}
	return filepath.Base(t), nil
}
