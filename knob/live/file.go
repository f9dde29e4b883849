package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nettune/nettune/internal/netns"
	"github.com/nettune/nettune/policy"
)

// queueKnob is a per-RX-queue sysfs file: rps_cpus or rps_flow_cnt.
type queueKnob struct {
	kind, iface, queue, ns, sysRoot string
}

func newQueueKnob(kind, iface, queue, ns, sysRoot string) *queueKnob {
	return &queueKnob{kind: kind, iface: iface, queue: queue, ns: ns, sysRoot: sysRoot}
}

func (k *queueKnob) ID() string          { return k.kind + ":" + k.iface + ":rx-" + k.queue }
func (k *queueKnob) Netns() string       { return k.ns }
func (k *queueKnob) Scope() policy.Scope { return policy.ScopeDevice }
func (k *queueKnob) Disruptive() bool    { return false }

func (k *queueKnob) file() string {
	if k.kind == "rps" {
		return "rps_cpus"
	}
	return "rps_flow_cnt"
}

// rel is the path below the sysfs root.
func (k *queueKnob) rel() string {
	return filepath.Join("class/net", k.iface, "queues", "rx-"+k.queue, k.file())
}

func (k *queueKnob) Compare(a, b string) Order {
	if k.kind == "rps" {
		return compareSets(parseMask, a, b)
	}
	return compareInts(a, b)
}

func (k *queueKnob) Command(v string) string {
	return nsPrefix(k.ns) + "sh -c 'echo " + v + " > /sys/" + k.rel() + "'"
}

func (k *queueKnob) Read() (v string, err error) {
	err = inSysfs(k.ns, k.sysRoot, func(root string) error {
		v, err = readValue(filepath.Join(root, k.rel()))
		return err
	})
	return v, err
}

func (k *queueKnob) Write(v string) error {
	ok := parseMask(v) != nil
	if k.kind != "rps" {
		_, err := parseUint32(v)
		ok = err == nil
	}
	if !ok {
		return fmt.Errorf("%w: %s %q", ErrBadValue, k.file(), v)
	}
	return inSysfs(k.ns, k.sysRoot, func(root string) error {
		return writeValue(filepath.Join(root, k.rel()), v)
	})
}

// irqKnob is /proc/irq/N/smp_affinity_list: host-wide, whatever namespace asked.
type irqKnob struct{ irq, root string }

func (k *irqKnob) ID() string                { return "irq-affinity:" + k.irq }
func (k *irqKnob) Netns() string             { return "" }
func (k *irqKnob) Scope() policy.Scope       { return policy.ScopeGlobal }
func (k *irqKnob) Disruptive() bool          { return false }
func (k *irqKnob) Compare(a, b string) Order { return compareSets(parseCPUList, a, b) }
func (k *irqKnob) path() string              { return filepath.Join(k.root, "irq", k.irq, "smp_affinity_list") }
func (k *irqKnob) Command(v string) string {
	return "sh -c 'echo " + v + " > /proc/irq/" + k.irq + "/smp_affinity_list'"
}

func (k *irqKnob) Read() (string, error) { return readValue(k.path()) }

func (k *irqKnob) Write(v string) error {
	if parseCPUList(v) == nil {
		return fmt.Errorf("%w: cpu list %q", ErrBadValue, v)
	}
	err := writeValue(k.path(), v)
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
