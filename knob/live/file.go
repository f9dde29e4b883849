package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/knob"
)

// queueKnob is a per-RX-queue sysfs file (rps_cpus, rps_flow_cnt) in the knob's namespace.
type queueKnob struct {
	rel, ns, sysRoot string // rel: the path below the sysfs root
}

func newQueueFile(id knob.ID, ns string, env Env) backend {
	_, rel, _ := knob.File(id)
	return &queueKnob{rel: rel, ns: ns, sysRoot: env.SysRoot}
}

func (k *queueKnob) Read() (v string, err error) {
	err = inSysfs(k.ns, k.sysRoot, func(root string) error {
		v, err = readValue(filepath.Join(root, k.rel))
		return err
	})
	return v, err
}

func (k *queueKnob) Write(v string) error {
	return inSysfs(k.ns, k.sysRoot, func(root string) error {
		return writeValue(filepath.Join(root, k.rel), v)
	})
}

// irqKnob is /proc/irq/N/smp_affinity_list: host-wide, whatever namespace asked.
type irqKnob struct{ irq, path string }

func newIRQFile(id knob.ID, _ string, env Env) backend {
	_, rel, _ := knob.File(id)
	return &irqKnob{irq: strconv.FormatUint(uint64(id.IRQ), 10), path: filepath.Join(env.ProcRoot, rel)}
}

func (k *irqKnob) Read() (string, error) { return readValue(k.path) }

func (k *irqKnob) Write(v string) error {
	err := writeValue(k.path, v)
	// Managed IRQs refuse user affinity: EIO on older kernels, EPERM (even for root) on 6.x.
	if errors.Is(err, unix.EIO) || errors.Is(err, unix.EPERM) && os.Geteuid() == 0 {
		return fmt.Errorf("%w: irq %s: %w", ErrManagedIRQ, k.irq, err)
	}
	return err
}

func readValue(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeValue writes the value in one write (sysfs and procfs parse each write whole) and never
// creates a missing file.
func writeValue(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s=%q: %w", path, v, err)
	}
	return nil
}

// inSysfs runs fn with a sysfs root that shows namespace ns: a fixture root as it is, the
// host's /sys for nettune's own namespace, else a private writable mount of ns's sysfs.
func inSysfs(ns, sysRoot string, fn func(root string) error) error {
	if ns == "" || sysRoot != "/sys" {
		return fn(sysRoot)
	}
	return netns.DoWithSysfs(ns, netns.Writable, fn)
}
