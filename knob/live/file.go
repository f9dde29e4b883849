package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	vnetns "github.com/vishvananda/netns"
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

// inSysfs runs fn with a sysfs root that shows namespace ns. A sysfs mount shows the network
// devices of the namespace that mounted it, so for another namespace fn runs on a throwaway
// thread with a private mount namespace and a fresh sysfs mount. Fixture roots are used as-is.
func inSysfs(ns, sysRoot string, fn func(root string) error) error {
	if ns == "" || sysRoot != "/sys" {
		return fn(sysRoot)
	}
	target, err := netns.Open(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's mount namespace is private, so the runtime must retire
		// the thread when this goroutine ends.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("private mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
				return fmt.Errorf("make mounts private: %w", err)
			}
			if err := vnetns.Set(target); err != nil {
				return fmt.Errorf("enter netns %s: %w", ns, err)
			}
			if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
				return fmt.Errorf("mount sysfs for netns %s: %w", ns, err)
			}
			return fn("/sys")
		}()
	}()
	return <-errc
}
