package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nettune/nettune/internal/netns"
)

// ErrUnsupported marks a kernel feature the lab needs but this kernel lacks; helpers that
// take a testing.TB skip on it, the rest return it wrapped.
var ErrUnsupported = errors.New("not supported by this kernel")

// inSysfs runs fn with /sys showing the devices of namespace ns (a private writable sysfs
// mount on a throw-away thread, internal/netns); a nil ns uses the host's /sys directly.
func inSysfs(ns *NS, fn func(sys string) error) error {
	if ns == nil {
		return netns.Do("", func() error { return fn("/sys") })
	}
	return netns.DoWithSysfs(ns.Name, netns.Writable, fn)
}

// sysPath resolves path ("class/net/x/mtu" or "/sys/class/net/x/mtu") under the sysfs root sys.
func sysPath(sys, path string) string {
	return filepath.Join(sys, strings.TrimPrefix(path, "/sys"))
}

// ReadSysfs reads a sysfs file as seen from namespace ns (nil = the test's own), trimmed.
func ReadSysfs(ns *NS, path string) (string, error) {
	var v []byte
	err := inSysfs(ns, func(sys string) error {
		var err error
		v, err = os.ReadFile(sysPath(sys, path))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysfs %s in %s: %w", path, ns.name(), err)
	}
	return strings.TrimSpace(string(v)), nil
}

// WriteSysfs writes value to a sysfs file as seen from namespace ns (nil = the test's own).
func WriteSysfs(ns *NS, path, value string) error {
	err := inSysfs(ns, func(sys string) error { return os.WriteFile(sysPath(sys, path), []byte(value), 0o644) })
	if err != nil {
		return fmt.Errorf("write sysfs %s=%s in %s: %w", path, value, ns.name(), err)
	}
	return nil
}

// setSysfs writes a sysfs file and restores the old value at cleanup (unless the namespace,
// and with it the device, is already gone).
func setSysfs(t testing.TB, ns *NS, path, value string) error {
	old, err := ReadSysfs(ns, path)
	if err != nil {
		return err
	}
	if err := WriteSysfs(ns, path, value); err != nil {
		return err
	}
	t.Cleanup(func() {
		if err := WriteSysfs(ns, path, old); err != nil && !errors.Is(err, netns.ErrNotFound) {
			t.Errorf("restore %s: %v", path, err)
		}
	})
	return nil
}

// SetRPS writes the RPS CPU mask (hex, as in rps_cpus) of rx queue queue of link in ns and
// restores the old mask at cleanup. Skips when the kernel has no RPS.
func SetRPS(t testing.TB, ns *NS, link string, queue int, mask string) {
	t.Helper()
	if err := setRPS(t, ns, link, queue, mask); err != nil {
		fatalOrSkip(t, err)
	}
}

func setRPS(t testing.TB, ns *NS, link string, queue int, mask string) error {
	dir := fmt.Sprintf("class/net/%s/queues/rx-%d", link, queue)
	var missing bool
	err := inSysfs(ns, func(sys string) error {
		if _, err := os.Stat(sysPath(sys, dir)); err != nil {
			return err
		}
		_, err := os.Stat(sysPath(sys, dir+"/rps_cpus"))
		missing = errors.Is(err, os.ErrNotExist)
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("rps on %s in %s: %w", dir, ns.name(), err)
	case missing: // the queue exists but the kernel was built without CONFIG_RPS
		return fmt.Errorf("rps on %s: %w", link, ErrUnsupported)
	}
	return setSysfs(t, ns, dir+"/rps_cpus", mask)
}

// SetTxQueueLen sets link's txqueuelen in ns through netlink and restores it at cleanup.
func SetTxQueueLen(t testing.TB, ns *NS, link string, qlen int) {
	t.Helper()
	h := ns.Handle(t)
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatalf("link %s in %s: %v", link, ns.name(), err)
	}
	old := l.Attrs().TxQLen
	if err := h.LinkSetTxQLen(l, qlen); err != nil {
		t.Fatalf("txqueuelen %s=%d: %v", link, qlen, err)
	}
	t.Cleanup(func() {
		if err := h.LinkSetTxQLen(l, old); err != nil {
			t.Errorf("restore txqueuelen %s: %v", link, err)
		}
	})
}

func fatalOrSkip(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	t.Fatal(err)
}
