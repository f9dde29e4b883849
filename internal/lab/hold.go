package lab

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nettune/nettune/internal/netns"
)

// holdSysctl sets a sysctl in ns (nil: the test's own namespace, i.e. a host-wide key) for
// the length of an injector. The returned restore puts the old value back at once; test
// cleanup does it too, should the injector not get there. Host-wide limits that starve
// every socket or neighbour of the host (tcp_mem, udp_mem, gc_thresh3) are held this way,
// never until the test ends.
func holdSysctl(t testing.TB, ns *NS, key, value string) (restore func(), err error) {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	var old []byte
	err = netns.Do(ns.name(), func() error {
		var err error
		if old, err = os.ReadFile(path); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(value), 0o644)
	})
	if err != nil {
		return nil, fmt.Errorf("set %s=%s: %w", key, value, err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			err := netns.Do(ns.name(), func() error { return os.WriteFile(path, old, 0o644) })
			if err != nil && !errors.Is(err, netns.ErrNotFound) {
				t.Errorf("restore %s: %v", key, err)
			}
		})
	}
	t.Cleanup(restore)
	return restore, nil
}

// readSysctl reads a sysctl (dotted key) in ns, without surrounding space.
func readSysctl(ns *NS, key string) (string, error) {
	var v []byte
	err := netns.Do(ns.name(), func() (err error) {
		v, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return err
	})
	return strings.TrimSpace(string(v)), err
}
